"""HorizontalPodAutoscalers (autoscaling/v2) and PodDisruptionBudgets."""

from __future__ import annotations

from gochat.contract import metrics as catalogue
from gochat_operator.specs import deployments, inputs, meta
from gochat_operator.specs.model import workloads

WS_CONNECTIONS_METRIC = catalogue.WS_CONNECTIONS.name


def metrics(autoscaling: workloads.Autoscaling) -> list[meta.Manifest]:
    """The HPA's metrics: CPU unless its target is 0, and for ws the connections per pod."""
    result: list[meta.Manifest] = []
    if autoscaling.target_cpu_utilization:
        result.append(
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {
                        "type": "Utilization",
                        "averageUtilization": autoscaling.target_cpu_utilization,
                    },
                },
            }
        )
    per_pod = getattr(autoscaling, "target_connections_per_pod", None)
    if per_pod:
        result.append(
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": WS_CONNECTIONS_METRIC},
                    "target": {"type": "AverageValue", "averageValue": str(per_pod)},
                },
            }
        )
    return result


def render_hpa(cluster: inputs.ClusterInput, component: str) -> meta.Manifest | None:
    """The HPA of a component, or None when its autoscaling is off."""
    autoscaling = deployments.component_spec(cluster, component).autoscaling
    if not autoscaling.enabled:
        return None
    name = meta.child_name(cluster, component)
    spec: meta.Manifest = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "minReplicas": autoscaling.min_replicas,
        "maxReplicas": autoscaling.max_replicas,
        "metrics": metrics(autoscaling),
    }
    if autoscaling.behavior is not None:
        # As written: unset fields stay unset, so Kubernetes' defaults apply to them.
        behavior = autoscaling.behavior.model_dump(mode="json", by_alias=True, exclude_none=True)
        if behavior:
            spec["behavior"] = behavior
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta.object_meta(cluster, name=name, component=component),
        "spec": spec,
    }


def render_pdb(cluster: inputs.ClusterInput, component: str) -> meta.Manifest:
    """At most one pod of a component down at a time during voluntary disruptions."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta.object_meta(
            cluster, name=meta.child_name(cluster, component), component=component
        ),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": meta.selector_labels(cluster, component)},
        },
    }
