"""charts/gochat's HPAs: the CPU target can be turned off (clusters without metrics-server), the
autoscaling/v2 `behavior` is rendered as given, and bad autoscaling values are refused by name.
The same settings on a GoChatCluster render the same HPA (test_gochat_parity.py, case `full`)."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from tests.charts.helm_support import Helm, by_kind
from tests.charts.test_gochat_chart import REQUIRED, refusal, render

CONNECTIONS = {"type": "Pods", "pods": {"metric": {"name": "gochat_ws_connections"},
               "target": {"type": "AverageValue", "averageValue": "20"}}}  # fmt: skip
BEHAVIOR = {
    "scaleDown": {
        "stabilizationWindowSeconds": 0,
        "selectPolicy": "Min",
        "policies": [
            {"type": "Pods", "value": 1, "periodSeconds": 30},
            {"type": "Percent", "value": 50, "periodSeconds": 60},
        ],
    },
    "scaleUp": {"selectPolicy": "Disabled"},
}


def hpas(helm: Helm, tmp: pathlib.Path, **scaling: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Component -> its HPA's spec, with `scaling` as components.<name>.autoscaling."""
    components = {name: {"autoscaling": values} for name, values in scaling.items()}
    documents = render(helm, tmp, components=components)
    return {
        hpa["metadata"]["labels"]["app.kubernetes.io/component"]: hpa["spec"]
        for hpa in by_kind(documents, "HorizontalPodAutoscaler")
    }


def test_by_default_an_hpa_has_the_cpu_target_and_kubernetes_behavior(
    helm: Helm, tmp_path: pathlib.Path
) -> None:
    spec = hpas(helm, tmp_path, api={"enabled": True})["api"]
    assert spec["metrics"] == [
        {"type": "Resource", "resource": {"name": "cpu",
         "target": {"type": "Utilization", "averageUtilization": 70}}}
    ]  # fmt: skip
    assert "behavior" not in spec


@pytest.mark.parametrize("off", [0, None], ids=["zero", "null"])
def test_a_cpu_target_of_zero_or_null_renders_no_resource_metric(
    helm: Helm, tmp_path: pathlib.Path, off: int | None
) -> None:
    ws = {"enabled": True, "targetCpuUtilization": off, "targetConnectionsPerPod": 20}
    assert hpas(helm, tmp_path, ws=ws)["ws"]["metrics"] == [CONNECTIONS]


def test_behavior_is_rendered_as_given(helm: Helm, tmp_path: pathlib.Path) -> None:
    spec = hpas(helm, tmp_path, indexer={"enabled": True, "behavior": BEHAVIOR})["indexer"]
    assert spec["behavior"] == BEHAVIOR
    assert hpas(helm, tmp_path, indexer={"enabled": True, "behavior": {}})["indexer"].keys() == {
        "scaleTargetRef", "minReplicas", "maxReplicas", "metrics"
    }  # fmt: skip


def test_an_hpa_left_without_any_metric_is_refused(helm: Helm, tmp_path: pathlib.Path) -> None:
    """autoscaling/v2 would fill an empty metric list with 80% CPU: a silent CPU target."""
    components = {
        "api": {"autoscaling": {"enabled": True, "targetCpuUtilization": 0}},
        "ws": {"autoscaling": {"enabled": True, "targetCpuUtilization": None}},
    }
    message = refusal(helm, tmp_path, {**REQUIRED, "components": components})
    for name in ("api", "ws"):
        assert f"components.{name}.autoscaling.targetCpuUtilization is 0 or null" in message


WS = "/components/ws/autoscaling"
# Test id -> (components.ws.autoscaling values, what the error must name).
BAD: dict[str, tuple[dict[str, Any], str]] = {
    "cpu-over-100": ({"targetCpuUtilization": 150}, f"{WS}/targetCpuUtilization"),
    "cpu-not-a-number": ({"targetCpuUtilization": "70%"}, f"{WS}/targetCpuUtilization"),
    "behavior-not-an-object": ({"behavior": "fast"}, f"{WS}/behavior"),
    "unknown-direction": ({"behavior": {"scaleDwn": {}}}, "scaleDwn"),
    "window-over-an-hour": (
        {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 7200}}},
        f"{WS}/behavior/scaleDown/stabilizationWindowSeconds",
    ),
    "unknown-select-policy": (
        {"behavior": {"scaleUp": {"selectPolicy": "Fastest"}}},
        f"{WS}/behavior/scaleUp/selectPolicy",
    ),
    "policy-without-period": (
        {"behavior": {"scaleDown": {"policies": [{"type": "Pods", "value": 1}]}}},
        "periodSeconds",
    ),
    "no-policies": (
        {"behavior": {"scaleDown": {"policies": []}}},
        f"{WS}/behavior/scaleDown/policies",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_autoscaling_values_are_refused_naming_the_field(
    helm: Helm, tmp_path: pathlib.Path, case: str
) -> None:
    autoscaling, named = BAD[case]
    values = {**REQUIRED, "components": {"ws": {"autoscaling": {"enabled": True, **autoscaling}}}}
    assert named in refusal(helm, tmp_path, values)
