"""The control plane behaves like a cluster the operator can rely on.

Each test checks one behaviour the operator and chart tests build on; a failure here means the
harness is broken, not GoChat.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from . import connection, kwok

pytestmark = pytest.mark.k8s
IMAGE = "images.invalid/gochat-smoke:1"  # never pulled: KWOK only pretends to run containers


@pytest.fixture
def kwok_cluster(k8s_control_plane: connection.KubernetesCluster) -> connection.KubernetesCluster:
    """The cluster, when KWOK plays its nodes: images are never pulled, Job pods succeed."""
    if not k8s_control_plane.simulated_nodes:
        pytest.skip("needs this harness's KWOK nodes; GOCHAT_TEST_KUBECONFIG is a real cluster")
    return k8s_control_plane


def wait_until(what: str, condition: Callable[[], bool], *, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        time.sleep(0.2)


def job(name: str, *, pod_labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {"app": name, **(pod_labels or {})}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": IMAGE}],
                },
            },
        },
    }


def test_fake_node_is_ready_with_room_for_many_pods(
    kwok_cluster: connection.KubernetesCluster,
) -> None:
    nodes = kwok_cluster.get_json("nodes")["items"]
    assert nodes, "no node registered"
    node = nodes[0]
    ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
    assert ready == "True"
    assert int(node["status"]["allocatable"]["pods"]) >= 1500


def test_deployment_becomes_available(
    kwok_cluster: connection.KubernetesCluster, k8s_namespace: str
) -> None:
    labels = {"app": "smoke"}
    kwok_cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "smoke"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "main", "image": IMAGE}]},
                },
            },
        },
        namespace=k8s_namespace,
    )
    kwok_cluster.kubectl(
        "wait",
        "-n",
        k8s_namespace,
        "deployment/smoke",
        "--for=condition=Available",
        "--timeout=30s",
    )
    status = kwok_cluster.get_json("-n", k8s_namespace, "deployment/smoke")["status"]
    assert status["readyReplicas"] == 3


def test_job_completes(kwok_cluster: connection.KubernetesCluster, k8s_namespace: str) -> None:
    kwok_cluster.apply(job("migrate-ok"), namespace=k8s_namespace)
    kwok_cluster.kubectl(
        "wait", "-n", k8s_namespace, "job/migrate-ok", "--for=condition=Complete", "--timeout=30s"
    )


def test_job_whose_pods_carry_the_fail_label_fails(
    kwok_cluster: connection.KubernetesCluster, k8s_namespace: str
) -> None:
    kwok_cluster.apply(
        job("migrate-bad", pod_labels={kwok.FAIL_LABEL: "true"}), namespace=k8s_namespace
    )
    kwok_cluster.kubectl(
        "wait", "-n", k8s_namespace, "job/migrate-bad", "--for=condition=Failed", "--timeout=30s"
    )
    pods = kwok_cluster.get_json("-n", k8s_namespace, "pods", "-l", "app=migrate-bad")
    assert [pod["status"]["phase"] for pod in pods["items"]] == ["Failed"]
    terminated = pods["items"][0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 1


def widget_crd(plural: str, group: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural[:-1], "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "minReplicas": {"type": "integer"},
                                        "maxReplicas": {"type": "integer"},
                                    },
                                    "x-kubernetes-validations": [
                                        {
                                            "rule": "self.minReplicas <= self.maxReplicas",
                                            "message": "minReplicas must not exceed maxReplicas",
                                        }
                                    ],
                                }
                            },
                        }
                    },
                }
            ],
        },
    }


def test_crd_cel_rule_rejects_a_bad_object_with_its_message(
    k8s_control_plane: connection.KubernetesCluster, k8s_namespace: str
) -> None:
    # CRDs are cluster-wide: a unique group keeps reruns and parallel sessions apart.
    group = f"smoke{uuid.uuid4().hex[:8]}.test.gochat.dev"
    crd = widget_crd("widgets", group)
    k8s_control_plane.apply(crd)
    try:
        k8s_control_plane.kubectl(
            "wait", f"crd/widgets.{group}", "--for=condition=Established", "--timeout=30s"
        )
        widget = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w"}}
        good = {**widget, "spec": {"minReplicas": 1, "maxReplicas": 3}}
        k8s_control_plane.apply(good, namespace=k8s_namespace)
        bad = {**widget, "metadata": {"name": "bad"}, "spec": {"minReplicas": 5, "maxReplicas": 2}}
        with pytest.raises(
            connection.ClusterCommandError, match="minReplicas must not exceed maxReplicas"
        ):
            k8s_control_plane.apply(bad, namespace=k8s_namespace)
    finally:
        k8s_control_plane.kubectl("delete", f"crd/widgets.{group}", "--wait=false", check=False)


def test_garbage_collector_deletes_an_owned_config_map_with_its_owner(
    k8s_control_plane: connection.KubernetesCluster, k8s_namespace: str
) -> None:
    k8s_control_plane.apply(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}},
        namespace=k8s_namespace,
    )
    owner_uid = k8s_control_plane.get_json("-n", k8s_namespace, "configmap/owner")["metadata"][
        "uid"
    ]
    owner_reference = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner_uid}
    k8s_control_plane.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "owned", "ownerReferences": [owner_reference]},
        },
        namespace=k8s_namespace,
    )
    k8s_control_plane.kubectl("delete", "-n", k8s_namespace, "configmap/owner")

    def owned_is_gone() -> bool:
        found = k8s_control_plane.kubectl(
            "get", "-n", k8s_namespace, "configmap/owned", "--ignore-not-found", "-o", "name"
        )
        return found.stdout.strip() == ""

    # The garbage collector starts only once its informers synced: allow the first test longer.
    wait_until("the owned ConfigMap is garbage-collected", owned_is_gone, timeout=60)


def test_python_client_reaches_the_cluster(
    k8s_control_plane: connection.KubernetesCluster, k8s_namespace: str
) -> None:
    from kubernetes import client

    with k8s_control_plane.api_client() as api:
        namespaces = client.CoreV1Api(api).list_namespace().items
    names = [namespace.metadata.name for namespace in namespaces if namespace.metadata]
    assert k8s_namespace in names


def test_helm_installs_a_chart_and_waits_for_it(
    kwok_cluster: connection.KubernetesCluster, k8s_namespace: str, tmp_path: Path
) -> None:
    kwok_cluster.helm("create", str(tmp_path / "sample"))
    kwok_cluster.helm(
        "install",
        "sample",
        str(tmp_path / "sample"),
        "-n",
        k8s_namespace,
        "--wait",
        "--timeout=60s",
    )
    release = kwok_cluster.helm("status", "sample", "-n", k8s_namespace, "-o", "json")
    assert '"status":"deployed"' in release.stdout.replace(" ", "")
