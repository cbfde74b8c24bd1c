"""The gateway's Prometheus collectors. `gochat_ws_connections` drives the operator's HPA;
`gochat_ws_message_delivery_seconds` is what the delivery alert watches."""

from __future__ import annotations

import bisect

from prometheus_client import Counter, Gauge, Histogram

from gochat.contract import metrics as catalogue

# With `gochat ws --workers N` the workers share one port, so any of them may answer a scrape:
# they write to PROMETHEUS_MULTIPROC_DIR and every answer sums over the live workers.
CONNECTIONS = Gauge(
    "gochat_ws_connections", "Open WebSocket connections (all workers of the pod).",
    multiprocess_mode="livesum",
)  # fmt: skip
SESSIONS = Gauge(
    "gochat_ws_sessions", "Identified sessions (all workers of the pod).",
    multiprocess_mode="livesum",
)  # fmt: skip
DISPATCHES = Counter(
    "gochat_ws_dispatches_total", "Events queued for clients, by event type.", ["type"]
)
RESUMES = Counter(
    "gochat_ws_resumes_total",
    "RESUME attempts, by outcome (resumed, invalid, view_changed).",
    ["outcome"],
)
REPLAYED = Counter("gochat_ws_replayed_events_total", "Events replayed to resuming sessions.")
DROPS = Counter(
    "gochat_ws_disconnects_total",
    "Connections the gateway closed, by close code name (TOO_SLOW, SESSION_TIMED_OUT, ...).",
    ["reason"],
)
TYPING_LIMITED = Counter("gochat_ws_typing_limited_total", "Typing signals dropped by the limit.")
DRAINED = Counter("gochat_ws_drained_total", "Sessions told to reconnect during a drain.")
LATE_COPIES = Counter(
    "gochat_ws_late_copies_dropped_total",
    "Events dropped as late copies (outbox seq not above the last one read for their scope).",
)
IDENTIFIES = Counter(
    catalogue.WS_IDENTIFIES.name.removesuffix("_total"),
    catalogue.WS_IDENTIFIES.help,
    catalogue.WS_IDENTIFIES.labels,
)
DELIVERY_LATENCY = Histogram(
    catalogue.WS_DELIVERY_LATENCY.name,
    catalogue.WS_DELIVERY_LATENCY.help,
    catalogue.WS_DELIVERY_LATENCY.labels,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


class DeliveryLatency:
    """Records one MESSAGE_CREATE's deliveries to `count` sessions as `count` observations of
    the same latency, at the cost of one: one bucket search and two additions, whatever the
    fan-out. Measured (docs/gateway.md, Metrics): queueing one event for 1,000 sessions takes
    ~360 us; an `observe` per recipient would add ~720 us to it, this adds ~1 us. The result is
    that of `count` observe calls."""

    def __init__(self, histogram: Histogram = DELIVERY_LATENCY) -> None:
        self._histogram = histogram
        self._children: dict[str, Histogram] = {}

    def record(self, scope: str, seconds: float, count: int) -> None:
        child = self._children.get(scope)
        if child is None:
            child = self._children[scope] = self._histogram.labels(scope)
        seconds = max(seconds, 0.0)  # clocks of two hosts: a skew must not go below zero
        # prometheus_client keeps per-bucket (not cumulative) values and no weighted observe;
        # tests/unit/ws/test_gateway_delivery_metrics.py checks this against `observe`.
        bounds = child._upper_bounds
        child._sum.inc(seconds * count)
        child._buckets[bisect.bisect_left(bounds, seconds)].inc(count)
