"""The gateway's Prometheus collectors. `gochat_ws_connections` drives the operator's HPA."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

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
