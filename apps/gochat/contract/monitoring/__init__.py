"""Dashboards and alert rules: the files in this package are their single source.

`alerts.yaml` holds Prometheus rule groups and `dashboards/*.json` Grafana dashboards. They ship
inside the `gochat` package, so the operator's image reads the same files the Helm charts
template and `tests/monitoring` proves against promtool and a real Prometheus. Every metric
they name is in `gochat.contract.metrics` (tests/monitoring checks it).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import yaml

# The per-cluster group's selectors name this namespace and this name prefix; `alert_groups`
# puts a cluster's own in their place.
NAMESPACE_PLACEHOLDER = '"NAMESPACE"'
CLUSTER_PLACEHOLDER = '"CLUSTER-'
CLUSTER_GROUP, OPERATOR_GROUP = "gochat", "gochat-operator"


def alerts_text() -> str:
    return resources.files(__package__).joinpath("alerts.yaml").read_text()


def alert_groups(*, namespace: str | None = None, cluster: str | None = None) -> list[Any]:
    """The rule groups, with one cluster's namespace and name in the per-cluster selectors
    when both are given (placeholders left as they are otherwise)."""
    text = alerts_text()
    if namespace is not None and cluster is not None:
        text = text.replace(NAMESPACE_PLACEHOLDER, json.dumps(namespace))
        text = text.replace(CLUSTER_PLACEHOLDER, f'"{cluster}-')
    groups: list[Any] = yaml.safe_load(text)["groups"]
    return groups


def dashboards() -> dict[str, dict[str, Any]]:
    """File name (`gochat.json`) -> dashboard, for every dashboard."""
    folder = resources.files(__package__).joinpath("dashboards")
    return {
        entry.name: json.loads(entry.read_text())
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".json")
    }
