"""charts/gochat and the operator render the same platform from the same settings.

For each GoChatCluster in tests/operator/cases/, the chart is rendered with the equivalent
values (the values have the spec's shape; an optional backend present in the spec is
`enabled`), the release and full name being the cluster's name, and the operator's builders
render the case. Deployments, Services, HPAs, PDBs, NetworkPolicies and the Ingress must be
equal field by field, except:
- the labels that name their manager (`app.kubernetes.io/managed-by`, `helm.sh/chart`) and the
  operator's ownerReferences (the chart's objects belong to a release, not to a resource);
- the value of the pod template's `gochat.dev/config-hash` annotation: both digest the rendered
  config and the referenced Secrets' data, but over different serialisations (present on both).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gochat_operator.specs import bundle, meta
from tests.charts.helm_support import CHARTS, Helm
from tests.operator import cluster_inputs

CHART = CHARTS / "gochat"
NAMESPACE = "gochat"
CASES = sorted(path.stem for path in cluster_inputs.CASES.glob("*.yaml"))
KINDS = (
    "Deployment",
    "Service",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "Ingress",
)
MANAGER_LABELS = ("app.kubernetes.io/managed-by", "helm.sh/chart")
OPTIONAL_BACKENDS = ("cassandra", "opensearch", "s3")


def chart_values(case: dict[str, Any]) -> dict[str, Any]:
    """The chart values equivalent to a GoChatCluster: its spec, optional backends enabled."""
    values = copy.deepcopy(case["spec"])
    for backend in OPTIONAL_BACKENDS:
        if backend in values:
            values[backend] = {"enabled": True, **values[backend]}
    values["fullnameOverride"] = case["metadata"]["name"]
    return values


def chart_manifests(helm: Helm, case: dict[str, Any], tmp: Path) -> list[dict[str, Any]]:
    file = tmp / "values.yaml"
    file.write_text(yaml.safe_dump(chart_values(case)))
    name = case["metadata"]["name"]
    out = helm.run("template", name, str(CHART), "-n", NAMESPACE, "-f", str(file))
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def operator_manifests(case: str) -> list[dict[str, Any]]:
    cluster = cluster_inputs.cluster_input(case)
    cluster = type(cluster)(**{**cluster.__dict__, "namespace": NAMESPACE})
    return bundle.render_children(cluster).all()


def comparable(manifest: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(manifest)
    metadata = result["metadata"]
    metadata.pop("ownerReferences", None)
    for label in MANAGER_LABELS:
        metadata.get("labels", {}).pop(label, None)
    if result["kind"] == "Deployment":
        template = result["spec"]["template"]["metadata"]
        for label in MANAGER_LABELS:
            template["labels"].pop(label, None)
        assert meta.CONFIG_HASH_ANNOTATION in template["annotations"], manifest["metadata"]
        template["annotations"][meta.CONFIG_HASH_ANNOTATION] = "<hash>"
    return result


def keyed(manifests: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (m["kind"], m["metadata"]["name"]): comparable(m) for m in manifests if m["kind"] in KINDS
    }


def differences(left: Any, right: Any, path: str = "") -> list[str]:
    """Every path where `left` (chart) and `right` (operator) differ."""
    if isinstance(left, dict) and isinstance(right, dict):
        found: list[str] = []
        for key in sorted(left.keys() | right.keys()):
            if key not in right:
                found.append(f"{path}.{key}: only in the chart: {left[key]!r}")
            elif key not in left:
                found.append(f"{path}.{key}: only from the operator: {right[key]!r}")
            else:
                found.extend(differences(left[key], right[key], f"{path}.{key}"))
        return found
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        return [
            found
            for index, (a, b) in enumerate(zip(left, right, strict=True))
            for found in differences(a, b, f"{path}[{index}]")
        ]
    return [] if left == right else [f"{path}: chart {left!r} != operator {right!r}"]


@pytest.mark.parametrize("case", CASES)
def test_chart_renders_what_the_operator_renders(helm: Helm, case: str, tmp_path: Path) -> None:
    body = cluster_inputs.load_case(case)
    chart = keyed(chart_manifests(helm, body, tmp_path))
    operator = keyed(operator_manifests(case))
    assert sorted(chart) == sorted(operator)
    problems = [
        f"{kind}/{name}{difference}"
        for (kind, name), manifest in sorted(chart.items())
        for difference in differences(manifest, operator[(kind, name)])
    ]
    assert not problems, "\n".join(problems)


def test_the_full_case_compares_every_kind(helm: Helm, tmp_path: Path) -> None:
    """The full case must exercise every kind, or the comparison above proves little."""
    body = cluster_inputs.load_case("full")
    rendered = {m["kind"] for m in chart_manifests(helm, body, tmp_path)}
    assert set(KINDS) <= rendered


def test_monitoring_objects_match_the_operators(helm: Helm, tmp_path: Path) -> None:
    """Where the Prometheus Operator's API exists, both select the same pods and ship the same
    per-cluster alerts (the contract's, with this cluster's namespace and name prefix)."""
    body = cluster_inputs.load_case("minimal")
    file = tmp_path / "values.yaml"
    file.write_text(yaml.safe_dump(chart_values(body)))
    name = body["metadata"]["name"]
    out = helm.run("template", name, str(CHART), "-n", NAMESPACE, "-f", str(file),
                   "--api-versions", "monitoring.coreos.com/v1")  # fmt: skip
    chart = {d["kind"]: d for d in yaml.safe_load_all(out.stdout) if d}
    cluster = cluster_inputs.cluster_input("minimal", prometheus=True)
    cluster = type(cluster)(**{**cluster.__dict__, "namespace": NAMESPACE})
    operator = {m["kind"]: m for m in bundle.render_children(cluster).all()}
    for kind in ("ServiceMonitor", "PrometheusRule"):
        assert differences(chart[kind]["spec"], operator[kind]["spec"]) == [], kind


def test_dashboards_match_the_operators_but_for_their_uid(helm: Helm, tmp_path: Path) -> None:
    """Same contract dashboard, same title, opening on the same namespace; the operator's uid
    comes from the GoChatCluster's uid, the chart's from namespace and release."""
    body = cluster_inputs.load_case("minimal")
    (chart,) = [
        m
        for m in chart_manifests(helm, body, tmp_path)
        if m["kind"] == "ConfigMap" and m["metadata"]["name"].endswith("-dashboards")
    ]
    operator = [m for m in operator_manifests("minimal") if m["kind"] == "ConfigMap"]
    (operator_board,) = [m for m in operator if m["metadata"]["name"].endswith("-dashboards")]
    assert chart["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert chart["data"].keys() == operator_board["data"].keys()
    for name in chart["data"]:
        ours, theirs = json.loads(chart["data"][name]), json.loads(operator_board["data"][name])
        ours.pop("uid"), theirs.pop("uid")
        assert differences(ours, theirs) == [], name


def both(helm: Helm, case: str, tmp: Path) -> tuple[list[dict[str, Any]], Any]:
    """The chart's manifests (migrations on) and the operator's ClusterInput for a case."""
    body = cluster_inputs.load_case(case)
    body["spec"]["migrations"] = {**body["spec"].get("migrations", {}), "enabled": True}
    cluster = cluster_inputs.cluster_input(case)
    return chart_manifests(helm, body, tmp), type(cluster)(
        **{**cluster.__dict__, "namespace": NAMESPACE}
    )


@pytest.mark.parametrize("case", ["full", "minimal"])
def test_service_configs_match_the_operators(helm: Helm, case: str, tmp_path: Path) -> None:
    """Each service's config file, parsed: the same keys and values."""
    chart, cluster = both(helm, case, tmp_path)
    operator = bundle.render_children(cluster).all()
    for component in meta.COMPONENTS:
        name = f"{cluster.name}-{component}-config"
        (ours,) = [m for m in chart if m["kind"] == "ConfigMap" and m["metadata"]["name"] == name]
        (theirs,) = [m for m in operator if m["metadata"]["name"] == name]
        assert ours["data"].keys() == theirs["data"].keys()
        for file, text in ours["data"].items():
            found = differences(yaml.safe_load(text), yaml.safe_load(theirs["data"][file]))
            assert found == [], f"{name}: {found}"


@pytest.mark.parametrize("case", ["full", "minimal"])
def test_the_migration_pod_matches_the_operators(helm: Helm, case: str, tmp_path: Path) -> None:
    """The Job's spec; its name differs by design (the operator names one Job per version,
    the chart re-creates one hook Job)."""
    chart, cluster = both(helm, case, tmp_path)
    (job,) = [m for m in chart if m["kind"] == "Job"]
    ours = comparable(job)["spec"]
    theirs = bundle.render_migration_job(cluster)["spec"]
    for template in (ours["template"]["metadata"], theirs["template"]["metadata"]):
        for label in MANAGER_LABELS:
            template["labels"].pop(label, None)
    found = differences(ours, theirs)
    assert found == [], "\n".join(found)
