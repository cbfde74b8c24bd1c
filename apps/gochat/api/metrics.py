"""The API service's own counters (the shared HTTP, database and outbox ones live elsewhere:
gochat.core.metrics, gochat.adapters.postgres.outbox_relay)."""

from __future__ import annotations

from prometheus_client import Counter

NOTIFICATION_MAILS_QUEUED = Counter(
    "gochat_notification_mails_queued_total",
    "Notification mails the API's sweep queued (one per user per window; sent by auth's mail "
    "queue).",
)
NOTIFICATION_ROUNDS_FAILED = Counter(
    "gochat_notification_rounds_failed_total",
    "Notification decisions for one user that failed and were rolled back (tried again next "
    "sweep).",
)
