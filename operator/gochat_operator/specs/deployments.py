"""The Deployments of api, auth, ws and indexer."""

from __future__ import annotations

from typing import Any

from gochat.contract import services as contract
from gochat_operator.specs import auth_backends, configmaps, inputs, meta
from gochat_operator.specs.model import workloads

Manifest = dict[str, Any]

# Read-only root filesystem, no privileges: the services need only their port and /tmp.
CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}
POD_SECURITY = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def component_spec(cluster: inputs.ClusterInput, component: str) -> workloads.Component:
    component_model: workloads.Component = getattr(cluster.spec.components, component)
    return component_model


def probe(path: str, *, period: int) -> Manifest:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": 3,
    }


def container(cluster: inputs.ClusterInput, component: str, image: str) -> Manifest:
    spec = component_spec(cluster, component)
    active = auth_backends.for_component(cluster, component)
    env = [{"name": "GOCHAT_CONFIG", "value": configmaps.config_path(component)}]
    for backend in active:
        env.extend(backend.env(component))
    mounts = [{"name": "config", "mountPath": configmaps.CONFIG_DIR, "readOnly": True}]
    mounts.append({"name": "tmp", "mountPath": "/tmp"})
    for backend in active:
        mounts.extend(backend.mounts(component))
    port = meta.PORTS[component]
    result: Manifest = {
        "name": "gochat",
        "image": image,
        "imagePullPolicy": cluster.spec.image.pull_policy,
        "args": [component],
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": [*env, *spec.extra_env],
        "volumeMounts": mounts,
        "livenessProbe": probe(contract.LIVENESS_PATH, period=10),
        "readinessProbe": probe(contract.READINESS_PATH, period=5),
        "securityContext": CONTAINER_SECURITY,
    }
    if spec.resources:
        result["resources"] = spec.resources
    return result


def pod_spec(cluster: inputs.ClusterInput, component: str, image: str) -> Manifest:
    spec = component_spec(cluster, component)
    volumes = [
        {"name": "config", "configMap": {"name": configmaps.config_name(cluster, component)}},
        {"name": "tmp", "emptyDir": {}},
    ]
    for backend in auth_backends.for_component(cluster, component):
        volumes.extend(backend.volumes(component))
    result: Manifest = {
        "containers": [container(cluster, component, image)],
        "volumes": volumes,
        "securityContext": POD_SECURITY,
        "automountServiceAccountToken": False,
    }
    scheduling = spec.scheduling
    optional = {
        "nodeSelector": scheduling.node_selector,
        "affinity": scheduling.affinity,
        "tolerations": scheduling.tolerations,
        "topologySpreadConstraints": scheduling.topology_spread_constraints,
        "imagePullSecrets": [{"name": name} for name in cluster.spec.image.pull_secrets],
    }
    result.update({key: value for key, value in optional.items() if value})
    return result


def render_deployment(
    cluster: inputs.ClusterInput, component: str, release: inputs.Release
) -> Manifest:
    """The Deployment of one component at `release`.

    With autoscaling on, `replicas` is left out entirely: the HPA owns it, and server-side
    apply then never resets it.
    """
    spec = component_spec(cluster, component)
    name = meta.child_name(cluster, component)
    pod_labels = {**spec.pod_labels, **meta.labels(cluster, component, version=release.version)}
    pod_annotations = {
        **spec.pod_annotations,
        meta.CONFIG_HASH_ANNOTATION: configmaps.config_hash(cluster, component),
    }
    deployment_spec: Manifest = {
        "selector": {"matchLabels": meta.selector_labels(cluster, component)},
        "revisionHistoryLimit": 5,
        "template": {
            "metadata": {"labels": pod_labels, "annotations": pod_annotations},
            "spec": pod_spec(cluster, component, release.image),
        },
    }
    if not spec.autoscaling.enabled:
        deployment_spec = {"replicas": spec.replicas, **deployment_spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta.object_meta(
            cluster, name=name, component=component, version=release.version
        ),
        "spec": deployment_spec,
    }
