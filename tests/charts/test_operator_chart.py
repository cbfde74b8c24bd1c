"""charts/gochat-operator: what it installs and refuses, and that it matches operator/deploy."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gochat.contract import monitoring
from gochat_operator import chartschema, crdgen
from tests.charts.helm_support import CHARTS, ROOT, Helm, by_kind
from tests.monitoring import promql

CHART = CHARTS / "gochat-operator"
DEPLOY = ROOT / "operator" / "deploy"


def deploy_documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((DEPLOY / name).read_text()) if doc]


def operator_container(documents: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = by_kind(documents, "Deployment")
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def test_rbac_is_the_least_privilege_of_operator_deploy(helm: Helm) -> None:
    (chart_role,) = by_kind(helm.template(CHART), "ClusterRole")
    (deploy_role,) = by_kind(deploy_documents("rbac.yaml"), "ClusterRole")
    assert chart_role["rules"] == deploy_role["rules"]
    (binding,) = by_kind(helm.template(CHART), "ClusterRoleBinding")
    (account,) = by_kind(helm.template(CHART), "ServiceAccount")
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": account["metadata"]["name"],
            "namespace": "gochat-system",
        }
    ]


def test_deployment_runs_the_operator_as_operator_deploy_does(helm: Helm) -> None:
    chart = operator_container(helm.template(CHART))
    deploy = operator_container(deploy_documents("operator.yaml"))
    for field in ("command", "args", "ports", "livenessProbe", "readinessProbe", "resources"):
        assert chart[field] == deploy[field], field
    assert {e["name"]: e["value"] for e in deploy["env"]}.items() <= {
        e["name"]: e["value"] for e in chart["env"]
    }.items()


def test_pod_meets_the_restricted_pod_security_standard(helm: Helm) -> None:
    (deployment,) = by_kind(helm.template(CHART), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = pod["containers"][0]["securityContext"]
    assert container["allowPrivilegeEscalation"] is False
    assert container["readOnlyRootFilesystem"] is True
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert deployment["spec"]["replicas"] == 1


def test_the_crd_is_a_template_kept_on_uninstall_and_current(helm: Helm, tmp_path: Path) -> None:
    (crd,) = by_kind(helm.template(CHART), "CustomResourceDefinition")
    assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    generated = yaml.safe_load(crdgen.crd_yaml())
    assert crd["spec"] == generated["spec"], (
        "charts/gochat-operator/files/ is stale: "
        "gochat-operator crd > charts/gochat-operator/files/gochatclusters.gochat.dev.yaml"
    )
    not_kept = helm.template(CHART, values={"crd": {"keep": False}}, tmp=tmp_path)
    assert "annotations" not in by_kind(not_kept, "CustomResourceDefinition")[0]["metadata"]
    off = helm.template(CHART, values={"crd": {"install": False}}, tmp=tmp_path)
    assert by_kind(off, "CustomResourceDefinition") == []


def test_watched_namespaces_become_arguments(helm: Helm, tmp_path: Path) -> None:
    values = {"watch": {"allNamespaces": False, "namespaces": ["chat-a", "chat-b"]}}
    args = operator_container(helm.template(CHART, values=values, tmp=tmp_path))["args"]
    assert "--all-namespaces" not in args
    assert [a for a in args if a.startswith("--namespace")] == [
        "--namespace=chat-a",
        "--namespace=chat-b",
    ]


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"imagee": {"tag": "1.0"}}, "imagee"),
        ({"metrics": {"port": "http"}}, "port"),
        ({"watch": {"allNamespace": False}}, "allNamespace"),
        ({"image": {"pullPolicy": "Sometimes"}}, "pullPolicy"),
        ({"image": {"digest": "sha256:not-hex"}}, "digest"),
        ({"podLabels": {"team": 7}}, "podLabels"),
        ({"monitoring": {"serviceMonitors": True}}, "serviceMonitors"),
        ({"monitoring": {"prometheusRule": "yes"}}, "prometheusRule"),
    ],
)
def test_a_misspelled_or_wrong_typed_value_fails_naming_it(
    helm: Helm, tmp_path: Path, values: dict[str, Any], named: str
) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump(values))
    # Helm 3's client-side dry run still asks a cluster for its version: there only `template`
    # (test_operator_chart_install.py runs `helm install` on the API server too).
    major = helm.run("version", "--template", "{{.Version}}").stdout.strip().lstrip("v")[:1]
    for command in ("template", "install") if major != "3" else ("template",):
        extra = ["--dry-run=client"] if command == "install" else []
        result = helm.run(command, "release", str(CHART), "-f", str(file), *extra, check=False)
        assert result.returncode != 0, f"helm {command} accepted {values}"
        assert named in result.stderr, result.stderr  # the wording varies between versions


def test_invalid_combinations_fail_with_every_problem_at_once(helm: Helm, tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    values = {
        "watch": {"allNamespaces": False, "namespaces": []},
        "serviceAccount": {"create": False, "name": ""},
        "health": {"port": 9090},
        "metrics": {"service": False},
    }
    file.write_text(yaml.safe_dump(values))
    result = helm.run("template", "release", str(CHART), "-f", str(file), check=False)
    assert result.returncode != 0
    for problem in (
        "watch.namespaces is empty",
        "serviceAccount.name is empty",
        "9090",
        "monitoring.serviceMonitor is true but metrics.service is false",
    ):
        assert problem in result.stderr, result.stderr


def test_kubernetes_older_than_the_constraint_is_refused(helm: Helm) -> None:
    old = helm.run("template", "release", str(CHART), "--kube-version", "1.28.9", check=False)
    assert old.returncode != 0
    assert "kubeVersion" in old.stderr or "incompatible" in old.stderr, old.stderr
    helm.run("template", "release", str(CHART), "--kube-version", "1.29.0")


def test_values_schema_is_generated_from_the_cluster_models() -> None:
    """Image, placement and resources values accept what the GoChatCluster CRD accepts."""
    committed = (CHART / "values.schema.json").read_text()
    assert committed == chartschema.values_schema_json(), (
        "charts/gochat-operator/values.schema.json is stale: "
        "gochat-operator chart-schema > charts/gochat-operator/values.schema.json"
    )


def test_the_operator_pod_has_a_writable_tmp(helm: Helm) -> None:
    """The root filesystem is read-only; the Kubernetes client writes certificates to /tmp."""
    for documents in (helm.template(CHART), deploy_documents("operator.yaml")):
        (deployment,) = by_kind(documents, "Deployment")
        pod = deployment["spec"]["template"]["spec"]
        assert {"name": "tmp", "mountPath": "/tmp"} in pod["containers"][0]["volumeMounts"]
        assert {"name": "tmp", "emptyDir": {}} in pod["volumes"]


MONITORING_API = ("--api-versions", "monitoring.coreos.com/v1")


def test_the_alerts_file_is_the_contracts() -> None:
    committed = (CHART / "files" / "alerts.yaml").read_text()
    assert committed == monitoring.alerts_text(), (
        "charts/gochat-operator/files/alerts.yaml is stale: "
        "cp apps/gochat/contract/monitoring/alerts.yaml charts/gochat-operator/files/"
    )


def test_prometheus_rule_ships_the_operator_alerts_of_the_contract(
    helm: Helm, tmp_path: Path
) -> None:
    values = {"monitoring": {"labels": {"release": "prom"}}}
    (rule,) = by_kind(
        helm.template(CHART, *MONITORING_API, values=values, tmp=tmp_path), "PrometheusRule"
    )
    (operator_group,) = [
        g for g in monitoring.alert_groups() if g["name"] == monitoring.OPERATOR_GROUP
    ]
    assert rule["spec"]["groups"] == [operator_group]  # the per-cluster group ships per cluster
    assert rule["metadata"]["labels"]["release"] == "prom"
    assert rule["metadata"]["namespace"] == "gochat-system"
    # promtool reads the rendered groups as Prometheus will.
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    checked = subprocess.run(
        [promql.binary("promtool"), "check", "rules", str(path)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_service_monitor_scrapes_the_metrics_service_keeping_the_operators_labels(
    helm: Helm,
) -> None:
    documents = helm.template(CHART, *MONITORING_API)
    (monitor,) = by_kind(documents, "ServiceMonitor")
    (service,) = by_kind(documents, "Service")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in [p["name"] for p in service["spec"]["ports"]]
    assert endpoint["path"] == "/metrics"
    assert endpoint["honorLabels"] is True  # gochat_operator_cluster_paused's namespace


def test_monitoring_objects_need_the_api_and_their_values(helm: Helm, tmp_path: Path) -> None:
    kinds = ("ServiceMonitor", "PrometheusRule")
    assert not [d for d in helm.template(CHART) if d["kind"] in kinds]  # no such API here
    off = {"monitoring": {"serviceMonitor": False, "prometheusRule": False}}
    rendered = helm.template(CHART, *MONITORING_API, values=off, tmp=tmp_path)
    assert not [d for d in rendered if d["kind"] in kinds]
