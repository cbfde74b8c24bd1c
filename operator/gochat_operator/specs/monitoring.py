"""ServiceMonitor, PrometheusRule (Prometheus Operator CRDs) and Grafana dashboards."""

from __future__ import annotations

import json

from gochat.contract import monitoring
from gochat_operator.specs import inputs, meta


def instance_selector(cluster: inputs.ClusterInput) -> meta.Manifest:
    return {
        "matchLabels": {
            "app.kubernetes.io/name": "gochat",
            "app.kubernetes.io/instance": cluster.name,
        },
        "matchExpressions": [
            {
                "key": "app.kubernetes.io/component",
                "operator": "In",
                "values": list(meta.COMPONENTS),
            }
        ],
    }


def render_service_monitor(cluster: inputs.ClusterInput) -> meta.Manifest | None:
    if not (cluster.has_prometheus_operator and cluster.spec.monitoring.service_monitor):
        return None
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": meta.object_meta(cluster, name=cluster.name, component="monitoring"),
        "spec": {
            "selector": instance_selector(cluster),
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
        },
    }


def alert_rules(cluster: inputs.ClusterInput) -> list[meta.Manifest]:
    """The per-cluster alerts of the contract's single source, selecting this cluster."""
    groups = monitoring.alert_groups(namespace=cluster.namespace, cluster=cluster.name)
    (group,) = [g for g in groups if g["name"] == monitoring.CLUSTER_GROUP]
    rules: list[meta.Manifest] = group["rules"]
    return rules


def render_prometheus_rule(cluster: inputs.ClusterInput) -> meta.Manifest | None:
    if not (cluster.has_prometheus_operator and cluster.spec.monitoring.prometheus_rule):
        return None
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": meta.object_meta(cluster, name=cluster.name, component="monitoring"),
        "spec": {"groups": [{"name": monitoring.CLUSTER_GROUP, "rules": alert_rules(cluster)}]},
    }


def dashboard(cluster: inputs.ClusterInput) -> meta.Manifest:
    """The contract's main dashboard, titled and identified per cluster."""
    board = monitoring.dashboards()["gochat.json"]
    board["title"] = f"GoChat {cluster.namespace}/{cluster.name}"
    board["uid"] = f"gochat-{cluster.uid[:8]}"
    for variable in board["templating"]["list"]:
        if variable["name"] == "namespace":  # opens on this cluster's namespace
            variable["current"] = {"text": cluster.namespace, "value": cluster.namespace}
    return board


def render_dashboards(cluster: inputs.ClusterInput) -> meta.Manifest | None:
    if not cluster.spec.monitoring.dashboards:
        return None
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta.object_meta(
            cluster,
            name=meta.child_name(cluster, "dashboards"),
            component="monitoring",
            extra_labels={"grafana_dashboard": "1"},
        ),
        "data": {"gochat.json": json.dumps(dashboard(cluster), indent=2, sort_keys=True)},
    }
