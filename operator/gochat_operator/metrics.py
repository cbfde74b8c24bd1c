"""The operator's own Prometheus metrics (served by `cli` on --metrics-port)."""

from __future__ import annotations

import prometheus_client

from gochat.contract import metrics as catalogue

# Names, help and labels from the contract's catalogue (dashboards and alerts use the same).
RECONCILES = prometheus_client.Counter(
    catalogue.OPERATOR_RECONCILES.name,
    catalogue.OPERATOR_RECONCILES.help,
    catalogue.OPERATOR_RECONCILES.labels,
)
DURATION = prometheus_client.Histogram(
    catalogue.OPERATOR_RECONCILE_SECONDS.name,
    catalogue.OPERATOR_RECONCILE_SECONDS.help,
    catalogue.OPERATOR_RECONCILE_SECONDS.labels,
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
CLUSTERS = prometheus_client.Gauge(
    catalogue.OPERATOR_CLUSTERS.name,
    catalogue.OPERATOR_CLUSTERS.help,
    catalogue.OPERATOR_CLUSTERS.labels,
)
CLUSTER_PAUSED = prometheus_client.Gauge(
    catalogue.OPERATOR_CLUSTER_PAUSED.name,
    catalogue.OPERATOR_CLUSTER_PAUSED.help,
    catalogue.OPERATOR_CLUSTER_PAUSED.labels,
)
PHASES = ("Pending", "Migrating", "Progressing", "Ready", "Degraded", "Paused")

_phase_by_cluster: dict[tuple[str, str], str] = {}


def record_phase(namespace: str, name: str, phase: str | None) -> None:
    """Remember one cluster's phase (None: gone) and refresh the per-phase gauge and the
    cluster's paused gauge (its series removed with the cluster)."""
    key = (namespace, name)
    if phase is None or phase == "Deleted":
        if _phase_by_cluster.pop(key, None) is not None:
            CLUSTER_PAUSED.remove(namespace, name)
    else:
        _phase_by_cluster[key] = phase
        CLUSTER_PAUSED.labels(namespace=namespace, name=name).set(int(phase == "Paused"))
    counts = dict.fromkeys(PHASES, 0)
    for value in _phase_by_cluster.values():
        counts[value] = counts.get(value, 0) + 1
    for phase_name, count in counts.items():
        CLUSTERS.labels(phase=phase_name).set(count)
