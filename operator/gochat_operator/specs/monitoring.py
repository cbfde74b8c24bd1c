"""ServiceMonitor, PrometheusRule (Prometheus Operator CRDs) and Grafana dashboards."""

from __future__ import annotations

import json

from gochat.contract import metrics
from gochat_operator.specs import inputs, meta

# Metric names come from the contract's catalogue, which a test checks against the running
# services' /metrics: a renamed metric breaks that test, not a dashboard in production.
REQUESTS = metrics.HTTP_REQUESTS.name
CONNECTIONS = metrics.WS_CONNECTIONS.name
OUTBOX_AGE = metrics.OUTBOX_OLDEST_AGE.name
DUPLICATE_WINDOW = metrics.OUTBOX_DUPLICATE_WINDOW.name
RELAY_LEADER = metrics.OUTBOX_LEADER.name


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
    selector = f'namespace="{cluster.namespace}",service=~"{cluster.name}-.*"'
    return [
        {
            "alert": "GoChatTargetDown",
            "expr": f"up{{{selector}}} == 0",
            "for": "5m",
            "labels": {"severity": "warning"},
            "annotations": {"summary": "A GoChat pod has not been scraped for 5 minutes."},
        },
        {
            "alert": "GoChatHighErrorRate",
            "expr": (
                f'sum(rate({REQUESTS}{{{selector},status=~"5.."}}[5m]))'
                f" / sum(rate({REQUESTS}{{{selector}}}[5m])) > 0.05"
            ),
            "for": "10m",
            "labels": {"severity": "critical"},
            "annotations": {"summary": "More than 5% of GoChat requests fail."},
        },
        {
            # Past the stream's duplicate window a re-published event is stored twice
            # (docs/api.md#events): page while there is still time to act.
            "alert": "GoChatOutboxLagNearDuplicateWindow",
            "expr": (
                f"max({OUTBOX_AGE}{{{selector}}}) > 0.5 * max({DUPLICATE_WINDOW}{{{selector}}})"
            ),
            "for": "1m",
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "The oldest unpublished event nears the stream's duplicate window."
            },
        },
        {
            "alert": "GoChatOutboxNoRelayLeader",
            "expr": f"max({RELAY_LEADER}{{{selector}}}) < 1",
            "for": "1m",
            "labels": {"severity": "critical"},
            "annotations": {"summary": "No API replica publishes the outbox."},
        },
    ]


def render_prometheus_rule(cluster: inputs.ClusterInput) -> meta.Manifest | None:
    if not (cluster.has_prometheus_operator and cluster.spec.monitoring.prometheus_rule):
        return None
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": meta.object_meta(cluster, name=cluster.name, component="monitoring"),
        "spec": {"groups": [{"name": "gochat", "rules": alert_rules(cluster)}]},
    }


def dashboard(cluster: inputs.ClusterInput) -> meta.Manifest:
    selector = f'namespace="{cluster.namespace}",service=~"{cluster.name}-.*"'
    panels = [
        ("Ready pods", f"sum by (service) (up{{{selector}}})"),
        ("WebSocket connections", f"sum({CONNECTIONS}{{{selector}}})"),
        ("Requests per second", f"sum by (service) (rate({REQUESTS}{{{selector}}}[5m]))"),
    ]
    return {
        "title": f"GoChat {cluster.namespace}/{cluster.name}",
        "uid": f"gochat-{cluster.uid[:8]}",
        "panels": [
            {"id": i + 1, "title": title, "type": "timeseries", "targets": [{"expr": expr}]}
            for i, (title, expr) in enumerate(panels)
        ],
    }


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
