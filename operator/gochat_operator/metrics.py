"""The operator's own Prometheus metrics (served by `cli` on --metrics-port)."""

from __future__ import annotations

import prometheus_client

RECONCILES = prometheus_client.Counter(
    "gochat_operator_reconciles_total",
    "Reconciles of GoChatClusters by result (success, degraded, error).",
    ["result"],
)
DURATION = prometheus_client.Histogram(
    "gochat_operator_reconcile_duration_seconds",
    "Wall time of one reconcile of one GoChatCluster.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
CLUSTERS = prometheus_client.Gauge(
    "gochat_operator_clusters", "GoChatClusters by phase, as last reconciled.", ["phase"]
)
PHASES = ("Pending", "Migrating", "Progressing", "Ready", "Degraded", "Paused")

_phase_by_cluster: dict[tuple[str, str], str] = {}


def record_phase(namespace: str, name: str, phase: str | None) -> None:
    """Remember one cluster's phase (None: gone) and refresh the per-phase gauge."""
    key = (namespace, name)
    if phase is None or phase == "Deleted":
        _phase_by_cluster.pop(key, None)
    else:
        _phase_by_cluster[key] = phase
    counts = dict.fromkeys(PHASES, 0)
    for value in _phase_by_cluster.values():
        counts[value] = counts.get(value, 0) + 1
    for phase_name, count in counts.items():
        CLUSTERS.labels(phase=phase_name).set(count)
