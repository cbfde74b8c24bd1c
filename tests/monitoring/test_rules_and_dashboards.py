"""The dashboards and alert rules of `gochat.contract.monitoring`, checked without services:
promtool parses every query and runs the rule unit tests, every metric named is catalogued,
every alert has its runbook, every panel uses the dashboard's variables."""

from __future__ import annotations

import re
import subprocess
from importlib import resources
from pathlib import Path

import yaml

from gochat.contract import metrics as catalogue
from gochat.contract import monitoring
from tests.monitoring import promql

DOCS = Path(__file__).parents[2] / "docs" / "runbooks"
RUNBOOK_BASE = "https://github.com/gochat/gochat/blob/main/docs/runbooks/"
# Series that come from kube-state-metrics, not from a GoChat process.
RANGE = re.compile(r"[})]\[([^\]]+)\]")  # a range after a selector or subquery
RANGE_FUNCTION = re.compile(r"\b(rate|increase|irate|deriv)\(")
TARGET_MATCHERS = 'namespace=~"$namespace",job=~"$job",instance=~"$instance"'
KUBE_STATE_SERIES = frozenset(
    {"kube_pod_status_ready", "kube_pod_status_phase", "kube_job_status_failed"}
)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promql.binary("promtool"), *args], capture_output=True, text=True, timeout=120
    )


def test_alert_rules_pass_promtool_check() -> None:
    with resources.as_file(resources.files(monitoring).joinpath("alerts.yaml")) as path:
        result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_fires_and_stays_silent_in_promtool_unit_tests() -> None:
    result = promtool("test", "rules", str(promql.ALERTS_TEST))
    assert result.returncode == 0, result.stdout + result.stderr
    cases = yaml.safe_load(promql.ALERTS_TEST.read_text())["tests"]
    checks = [check for case in cases for check in case["alert_rule_test"]]
    for rule in promql.alert_rules():
        mine = [check for check in checks if check["alertname"] == rule["alert"]]
        # promtool fails a check on any alert it did not expect, so each firing case also
        # proves its other input series (a healthy service, another Job) stay silent.
        assert any(check["exp_alerts"] for check in mine), f"{rule['alert']}: no firing case"


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    queries = promql.dashboard_queries()
    assert len(queries) > 20
    rules = [
        {"record": f"gochat:dashboard_query:{i}", "expr": expr}
        for i, (_, expr) in enumerate(queries)
    ]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_metric_named_is_catalogued_with_those_labels() -> None:
    series = catalogue.by_series_name()
    exprs = [(where, expr) for where, expr in promql.dashboard_queries()]
    exprs += [(f"alert {rule['alert']}", rule["expr"]) for rule in promql.alert_rules()]
    for where, expr in exprs:
        found = promql.selectors(expr)
        assert found, f"{where}: no selector in {expr}"
        for name, labels in found:
            if name in KUBE_STATE_SERIES:
                continue
            if name in catalogue.SCRAPE_SERIES:
                assert labels <= catalogue.TARGET_LABELS, (where, name, labels)
                continue
            assert name in series, f"{where}: {name} is no metric any GoChat process exports"
            known = set(series[name].labels) | catalogue.TARGET_LABELS
            assert labels <= known, f"{where}: {name} has no label {sorted(labels - known)}"


def test_every_alert_has_a_runbook_page_and_url() -> None:
    for rule in promql.alert_rules():
        name = rule["alert"]
        assert (DOCS / f"{name}.md").is_file(), f"no docs/runbooks/{name}.md"
        assert rule["annotations"]["runbook_url"] == f"{RUNBOOK_BASE}{name}.md"
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
    pages = {path.stem for path in DOCS.glob("*.md")}
    assert pages == {rule["alert"] for rule in promql.alert_rules()}, "a runbook of no alert"


def test_cluster_alerts_select_only_the_cluster_they_are_rendered_for() -> None:
    groups = monitoring.alert_groups(namespace="chat", cluster="prod")
    (cluster_group,) = [g for g in groups if g["name"] == monitoring.CLUSTER_GROUP]
    for rule in cluster_group["rules"]:
        for _, body in promql.SELECTOR.findall(rule["expr"]):
            assert 'namespace="chat"' in body, (rule["alert"], body)
            assert '"prod-' in body, (rule["alert"], body)
    assert "NAMESPACE" not in str(groups) and "CLUSTER-" not in str(groups)


def test_dashboards_offer_datasource_namespace_job_instance_and_rate_by_rate_interval() -> None:
    for file_name, board in monitoring.dashboards().items():
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource", file_name
        assert {"namespace", "job", "instance"} <= set(variables), file_name
        assert board["panels"][0]["type"] == "alertlist", f"{file_name}: alert list first"
        for panel in board["panels"][1:]:
            assert panel["datasource"]["uid"] == "${datasource}", (file_name, panel["title"])
            for target in panel["targets"]:
                expr = target["expr"]
                for _, body in promql.SELECTOR.findall(expr):
                    assert body.startswith(TARGET_MATCHERS), expr
                windows = set(RANGE.findall(expr))
                assert windows <= {"$__rate_interval"}, expr
                assert windows or not RANGE_FUNCTION.search(expr), expr
