"""Drift: hand edits are undone, other managers' fields and the HPA's replicas are left alone."""

from __future__ import annotations

import time

import pytest

from gochat_operator.specs import meta
from tests.operator import k8s_support

pytestmark = pytest.mark.k8s


def ready_sample(gochat: k8s_support.Cluster, **spec: object) -> dict:
    gochat.create_dsn_secret()
    gochat.apply(k8s_support.sample(**spec))
    return gochat.wait_ready("chat")


def reconciled_after_change(gochat: k8s_support.Cluster, log_level: str) -> None:
    """Change the spec (any reconcile trigger would do) and wait until it is handled."""
    before = (gochat.get("gochatcluster", "chat") or {})["metadata"]["generation"]
    gochat.patch("gochatcluster", "chat", {"spec": {"logLevel": log_level}})
    gochat.wait_ready("chat", generation=before + 1)


def test_deleted_or_edited_children_are_restored(
    gochat: k8s_support.Cluster, operator: k8s_support.OperatorProcess
) -> None:
    ready_sample(gochat)
    service_uid = (gochat.get("service", "chat-api") or {})["metadata"]["uid"]
    config = (gochat.get("configmap", "chat-api-config") or {})["data"]

    gochat.kubectl("delete", "service", "chat-api")
    gochat.kubectl("delete", "deployment", "chat-ws")
    gochat.patch("configmap", "chat-api-config", {"data": {"api_config.yaml": "port: 1\n"}})
    gochat.patch("deployment", "chat-auth", {"spec": {"replicas": 5}})

    def restored() -> bool:
        service = gochat.get("service", "chat-api")
        configmap = gochat.get("configmap", "chat-api-config") or {}
        auth = gochat.get("deployment", "chat-auth") or {}
        return bool(
            service
            and service["metadata"]["uid"] != service_uid
            and gochat.get("deployment", "chat-ws")
            and configmap.get("data") == config
            and auth["spec"]["replicas"] == 2
        )

    k8s_support.wait_until("children restored", restored, timeout=30)
    assert gochat.events("ChildRestored")
    gochat.wait_ready("chat")


def test_fields_of_other_managers_are_left_alone(
    gochat: k8s_support.Cluster, operator: k8s_support.OperatorProcess
) -> None:
    ready_sample(gochat)
    gochat.kubectl("rollout", "restart", "deployment/chat-api")
    gochat.kubectl("label", "service", "chat-api", "team=chat")
    before = (gochat.get("deployment", "chat-api") or {})["spec"]["template"]["metadata"]

    reconciled_after_change(gochat, "debug")

    deployment = gochat.get("deployment", "chat-api") or {}
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in annotations
    # The new log level is in the rendered config, so its hash rolls the pods.
    assert (
        annotations[meta.CONFIG_HASH_ANNOTATION]
        != before["annotations"][meta.CONFIG_HASH_ANNOTATION]
    )
    assert (gochat.get("service", "chat-api") or {})["metadata"]["labels"]["team"] == "chat"


def owns_replicas(deployment: dict, manager: str) -> bool:
    for entry in deployment["metadata"].get("managedFields", []):
        if entry["manager"] == manager and "f:replicas" in entry["fieldsV1"].get("f:spec", {}):
            return True
    return False


def test_with_autoscaling_the_hpa_owns_replicas(
    gochat: k8s_support.Cluster, operator: k8s_support.OperatorProcess
) -> None:
    ready_sample(gochat, components={"api": {"replicas": 3}})
    autoscaling = {"enabled": True, "minReplicas": 2, "maxReplicas": 6}
    gochat.patch(
        "gochatcluster", "chat", {"spec": {"components": {"api": {"autoscaling": autoscaling}}}}
    )
    gochat.wait_ready("chat", generation=2)

    hpa = gochat.get("horizontalpodautoscaler", "chat-api") or {}
    assert hpa["spec"]["maxReplicas"] == 6
    deployment = gochat.get("deployment", "chat-api") or {}
    # Handing replicas over did not reset them (server-side apply drops fields nobody owns).
    assert deployment["spec"]["replicas"] == 3
    assert not owns_replicas(deployment, meta.MANAGER)

    # What the HPA does: write the scale subresource.
    gochat.kubectl("scale", "deployment/chat-api", "--replicas=5")
    reconciled_after_change(gochat, "debug")
    assert (gochat.get("deployment", "chat-api") or {})["spec"]["replicas"] == 5

    gochat.patch(
        "gochatcluster",
        "chat",
        {"spec": {"components": {"api": {"autoscaling": {"enabled": False}}}}},
    )
    k8s_support.wait_until(
        "HPA removed when autoscaling is off",
        lambda: gochat.get("horizontalpodautoscaler", "chat-api") is None,
    )


def test_pause_annotation_stops_reconciling_and_says_so(
    gochat: k8s_support.Cluster, operator: k8s_support.OperatorProcess
) -> None:
    ready_sample(gochat)
    gochat.kubectl("annotate", "gochatcluster", "chat", f"{meta.PAUSED_ANNOTATION}=true")
    k8s_support.wait_until(
        "Paused condition", lambda: gochat.condition("chat", "Paused").get("status") == "True"
    )
    assert (gochat.get("gochatcluster", "chat") or {})["status"]["phase"] == "Paused"
    gochat.kubectl("delete", "service", "chat-ws")
    time.sleep(3)
    assert gochat.get("service", "chat-ws") is None, "a paused cluster was reconciled"

    gochat.kubectl("annotate", "gochatcluster", "chat", f"{meta.PAUSED_ANNOTATION}-")
    k8s_support.wait_until("service back after unpause", lambda: gochat.get("service", "chat-ws"))
    gochat.wait_ready("chat")
    assert gochat.condition("chat", "Paused")["status"] == "False"
