"""What the monitoring tests share: the promtool/prometheus binaries and the dashboards' queries."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from gochat.contract import monitoring
from tests.fixtures import debian

ALERTS_TEST = Path(__file__).with_name("alerts_test.yaml")
# What Grafana puts in place of the dashboards' variables before it sends a query.
VARIABLES = {"$__rate_interval": "1m", "$namespace": ".*", "$job": ".*", "$instance": ".*"}
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
DEBIAN_PACKAGE = "prometheus"  # Prometheus 2.42 and promtool, installed in seconds


def binary(name: str) -> str:
    """Path of `promtool` or `prometheus`: on PATH, else installed from Debian when root;
    the test is skipped (saying why) when neither can be had."""
    found = shutil.which(name)
    if found:
        return found
    if os.geteuid() != 0:
        pytest.skip(f"{name} is not installed and installing the Debian package needs root")
    # Through the one installer: apt lists may be absent on a fresh machine, and Debian's
    # prometheus package would otherwise start a host-wide server on :9090 where systemd runs.
    debian.install([DEBIAN_PACKAGE], log=print)
    found = shutil.which(name)
    assert found, f"apt-get installed {DEBIAN_PACKAGE} but there is no {name} on PATH"
    return found


def substitute(expr: str, *, rate_interval: str = "1m") -> str:
    for variable, value in {**VARIABLES, "$__rate_interval": rate_interval}.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"a dashboard variable the tests do not know: {expr}"
    return expr


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL as Grafana sends it) for every target of every dashboard panel."""
    queries = []
    for file_name, board in monitoring.dashboards().items():
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                where = f"{file_name} panel {panel['id']} {panel['title']!r} {target['refId']}"
                queries.append((where, substitute(target["expr"])))
    return queries


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in monitoring.alert_groups() for rule in group["rules"]]


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """(metric name, label names matched) for every `name{...}` selector in `expr`."""
    return [(name, set(MATCHER.findall(body))) for name, body in SELECTOR.findall(expr)]
