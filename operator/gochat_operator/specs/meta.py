"""Names, labels and ownership shared by every child of a GoChatCluster."""

from __future__ import annotations

from typing import Any

from gochat.contract import services as contract
from gochat_operator.specs import inputs
from gochat_operator.specs.model import base

MANAGER = "gochat-operator"
COMPONENTS = contract.COMPONENTS
PORTS = contract.PORTS
ANNOTATION_PREFIX = "gochat.dev"
CONFIG_HASH_ANNOTATION = f"{ANNOTATION_PREFIX}/config-hash"
PAUSED_ANNOTATION = f"{ANNOTATION_PREFIX}/paused"

Manifest = dict[str, Any]


def child_name(cluster: inputs.ClusterInput, suffix: str) -> str:
    return f"{cluster.name}-{suffix}"


def selector_labels(cluster: inputs.ClusterInput, component: str) -> dict[str, str]:
    """The labels a Deployment selects on: immutable, so no version here."""
    return {
        "app.kubernetes.io/name": "gochat",
        "app.kubernetes.io/instance": cluster.name,
        "app.kubernetes.io/component": component,
    }


def labels(
    cluster: inputs.ClusterInput, component: str, *, version: str | None = None
) -> dict[str, str]:
    """The standard app.kubernetes.io labels every child carries."""
    result = {
        **selector_labels(cluster, component),
        "app.kubernetes.io/part-of": "gochat",
        "app.kubernetes.io/managed-by": MANAGER,
    }
    if version:
        result["app.kubernetes.io/version"] = version
    return result


def owner_reference(cluster: inputs.ClusterInput) -> Manifest:
    """Makes the child garbage-collected with its GoChatCluster."""
    return {
        "apiVersion": f"{base.GROUP}/{base.VERSION}",
        "kind": base.KIND,
        "name": cluster.name,
        "uid": cluster.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def object_meta(
    cluster: inputs.ClusterInput,
    *,
    name: str,
    component: str,
    version: str | None = None,
    extra_labels: dict[str, str] | None = None,
) -> Manifest:
    return {
        "name": name,
        "namespace": cluster.namespace,
        "labels": {**labels(cluster, component, version=version), **(extra_labels or {})},
        "ownerReferences": [owner_reference(cluster)],
    }


def service_host(cluster: inputs.ClusterInput, component: str) -> str:
    return f"{child_name(cluster, component)}.{cluster.namespace}.svc"


def service_url(cluster: inputs.ClusterInput, component: str) -> str:
    return f"http://{service_host(cluster, component)}:{PORTS[component]}"
