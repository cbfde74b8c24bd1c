"""Every child of a GoChatCluster: what to apply, what to remove, and in which order."""

from __future__ import annotations

import dataclasses

from gochat_operator.specs import (
    autoscaling,
    configmaps,
    deployments,
    inputs,
    meta,
    migration,
    monitoring,
    networking,
    services,
)


@dataclasses.dataclass(frozen=True)
class ChildRef:
    """Enough to find (and delete) one child."""

    api_version: str
    kind: str
    name: str


@dataclasses.dataclass(frozen=True)
class Children:
    """The desired children, split by when they may be applied."""

    # Config, Services and policies: safe to apply at any time.
    base: list[meta.Manifest]
    # Deployments and HPAs: only once a release has been migrated (`serving`).
    workloads: list[meta.Manifest]
    # Optional children that the spec no longer asks for: delete them if present.
    prune: list[ChildRef]

    def all(self) -> list[meta.Manifest]:
        return [*self.base, *self.workloads]


def optional_children(cluster: inputs.ClusterInput) -> dict[ChildRef, meta.Manifest | None]:
    """Children that exist only when the spec (or the cluster's CRDs) asks for them."""
    result: dict[ChildRef, meta.Manifest | None] = {}
    for component in meta.COMPONENTS:
        ref = ChildRef(
            "autoscaling/v2", "HorizontalPodAutoscaler", meta.child_name(cluster, component)
        )
        result[ref] = autoscaling.render_hpa(cluster, component) if cluster.serving else None
    result[ChildRef("networking.k8s.io/v1", "Ingress", cluster.name)] = networking.render_ingress(
        cluster
    )
    result[ChildRef("v1", "ConfigMap", meta.child_name(cluster, "dashboards"))] = (
        monitoring.render_dashboards(cluster)
    )
    if cluster.has_prometheus_operator:
        # Without the CRDs these kinds cannot exist, so there is nothing to prune either.
        result[ChildRef("monitoring.coreos.com/v1", "ServiceMonitor", cluster.name)] = (
            monitoring.render_service_monitor(cluster)
        )
        result[ChildRef("monitoring.coreos.com/v1", "PrometheusRule", cluster.name)] = (
            monitoring.render_prometheus_rule(cluster)
        )
    return result


def render_children(cluster: inputs.ClusterInput) -> Children:
    """All children except the migration Job and the JWT Secret, which have their own steps."""
    base: list[meta.Manifest] = []
    for component in meta.COMPONENTS:
        base.append(configmaps.render_configmap(cluster, component))
        base.append(services.render_service(cluster, component))
        base.append(networking.render_network_policy(cluster, component))
        base.append(autoscaling.render_pdb(cluster, component))
    base.append(networking.render_migration_network_policy(cluster))
    optional = optional_children(cluster)
    hpas = [m for r, m in optional.items() if m and r.kind == "HorizontalPodAutoscaler"]
    base.extend(m for r, m in optional.items() if m and r.kind != "HorizontalPodAutoscaler")
    workloads: list[meta.Manifest] = []
    if cluster.serving:
        for component in meta.COMPONENTS:
            workloads.append(deployments.render_deployment(cluster, component, cluster.serving))
        workloads.extend(hpas)
    prune = [ref for ref, manifest in optional.items() if manifest is None]
    return Children(base=base, workloads=workloads, prune=prune)


def render_migration_job(cluster: inputs.ClusterInput) -> meta.Manifest:
    return migration.render_job(cluster, cluster.desired)
