"""The metric catalogue: every metric a GoChat process exports, with its type and labels.

Dashboards, alerts and HPAs name metrics from here (`HTTP_REQUESTS.name`), never as string
copies. `tests/operator/test_contract_metrics.py` scrapes the running services and the operator
and checks the catalogue against what they really export, both ways.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

API, AUTH, WS, INDEXER, OPERATOR = "api", "auth", "ws", "indexer", "operator"
HTTP_SERVICES = frozenset({API, AUTH, INDEXER})  # the gateway's native server counts no HTTP

# Labels Prometheus attaches to every series of a target (ServiceMonitor / scrape config).
TARGET_LABELS = frozenset({"job", "instance", "namespace", "service", "pod", "container"})
# Series Prometheus makes itself for each target, whatever the target exports.
SCRAPE_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})


@dataclasses.dataclass(frozen=True)
class Metric:
    """One metric family. `name` is the series name a query uses (counters end in `_total`;
    a histogram's series add `_bucket`, `_sum` and `_count`)."""

    name: str
    type: Literal["counter", "gauge", "histogram"]
    labels: tuple[str, ...]
    services: frozenset[str]
    help: str

    def series_names(self) -> frozenset[str]:
        if self.type == "histogram":
            return frozenset(f"{self.name}_{suffix}" for suffix in ("bucket", "sum", "count"))
        return frozenset({self.name})


def _metric(
    name: str,
    kind: Literal["counter", "gauge", "histogram"],
    services: frozenset[str] | str,
    help_text: str,
    labels: tuple[str, ...] = (),
) -> Metric:
    where = frozenset({services}) if isinstance(services, str) else services
    return Metric(name=name, type=kind, labels=labels, services=where, help=help_text)


HTTP_REQUESTS = _metric(
    "gochat_http_requests_total", "counter", HTTP_SERVICES,
    "HTTP requests served, by route template and status.",
    ("service", "method", "route", "status"),
)  # fmt: skip
HTTP_LATENCY = _metric(
    "gochat_http_request_duration_seconds", "histogram", HTTP_SERVICES,
    "HTTP request latency, by route template.", ("service", "method", "route"),
)  # fmt: skip
DB_TRANSACTIONS = _metric(
    "gochat_db_transaction_duration_seconds", "histogram", frozenset({API, AUTH}),
    "Named database transactions, by name and outcome.", ("service", "name", "outcome"),
)  # fmt: skip
EVENTS_PUBLISHED = _metric(
    "gochat_events_published_total", "counter", API,
    "Outbox events published to JetStream.", ("type",),
)  # fmt: skip
OUTBOX_PUBLISH_FAILURES = _metric(
    "gochat_outbox_publish_failures_total", "counter", API,
    "Failed attempts to publish the outbox.",
)  # fmt: skip
OUTBOX_UNPUBLISHED = _metric(
    "gochat_outbox_unpublished_events", "gauge", API, "Committed outbox rows not yet published."
)
OUTBOX_OLDEST_AGE = _metric(
    "gochat_outbox_oldest_unpublished_age_seconds", "gauge", API,
    "Age of the oldest unpublished outbox row.",
)  # fmt: skip
OUTBOX_LEADER = _metric(
    "gochat_outbox_relay_leader", "gauge", API, "1 while this replica publishes the outbox."
)
OUTBOX_NOTIFICATIONS = _metric(
    "gochat_outbox_notifications_total", "counter", API,
    "Commit notifications the relay leader received (none while it drains a steady "
    "stream).",
)  # fmt: skip
OUTBOX_BATCH_SECONDS = _metric(
    "gochat_outbox_publish_batch_seconds", "histogram", API,
    "Time to publish one batch until its last PubAck or failure.",
)  # fmt: skip
OUTBOX_DUPLICATE_ACKS = _metric(
    "gochat_outbox_duplicate_acks_total", "counter", API,
    "Events JetStream already held when the relay published them (re-published after a "
    "lost PubAck, a cut session or a takeover), de-duplicated by Nats-Msg-Id.",
)  # fmt: skip
OUTBOX_DUPLICATE_WINDOW = _metric(
    "gochat_outbox_duplicate_window_seconds", "gauge", API,
    "The stream's duplicate window: a row published later than this after its first store "
    "is stored twice. Compare with gochat_outbox_oldest_unpublished_age_seconds.",
)  # fmt: skip
NOTIFICATION_MAILS_QUEUED = _metric(
    "gochat_notification_mails_queued_total", "counter", API,
    "Notification mails the API's sweep queued (one per user per window; sent by auth's mail "
    "queue).",
)  # fmt: skip
NOTIFICATION_ROUNDS_FAILED = _metric(
    "gochat_notification_rounds_failed_total", "counter", API,
    "Notification decisions for one user that failed and were rolled back (tried again next "
    "sweep).",
)  # fmt: skip
AUTH_LOGINS = _metric(
    "gochat_auth_logins_total", "counter", AUTH,
    "Login attempts, by result (ok, invalid_credentials, email_not_confirmed, rate_limited).",
    ("result",),
)  # fmt: skip
AUTH_REGISTRATIONS = _metric(
    "gochat_auth_registrations_total", "counter", AUTH, "Accounts registered."
)
AUTH_TOKEN_REFRESHES = _metric(
    "gochat_auth_token_refreshes_total", "counter", AUTH,
    "Refresh-token rotations, by result (ok, invalid, expired, revoked, reused).", ("result",),
)  # fmt: skip
AUTH_MAIL_DELIVERIES = _metric(
    "gochat_auth_mail_deliveries_total", "counter", AUTH,
    "Queued mails handled by the sender, by kind and outcome (sent; deferred: a transient "
    "failure, tried again later; failed: rejected or out of attempts, given up; dropped: a "
    "notification whose messages were all read before it went).",
    ("kind", "outcome"),
)  # fmt: skip
AUTH_MAIL_QUEUE_PENDING = _metric(
    "gochat_auth_mail_queue_pending", "gauge", AUTH, "Queued mails not yet sent nor given up."
)
MAIL_ATTEMPT_FAILURES = _metric(
    "gochat_mail_attempt_failures_total", "counter", AUTH,
    "Failed mail delivery attempts, by mailer and outcome (retried: tried again in the "
    "same send; rejected: permanent, not retried; gave_up: transient, attempts "
    "exhausted).", ("mailer", "outcome"),
)  # fmt: skip
WS_CONNECTIONS = _metric(
    "gochat_ws_connections", "gauge", WS, "Open WebSocket connections (all workers of the pod)."
)
WS_SESSIONS = _metric(
    "gochat_ws_sessions", "gauge", WS, "Identified sessions (all workers of the pod)."
)
WS_DISPATCHES = _metric(
    "gochat_ws_dispatches_total", "counter", WS,
    "Events queued for clients, by event type.", ("type",),
)  # fmt: skip
WS_RESUMES = _metric(
    "gochat_ws_resumes_total", "counter", WS,
    "RESUME attempts, by outcome (resumed, invalid, view_changed).", ("outcome",),
)  # fmt: skip
WS_REPLAYED = _metric(
    "gochat_ws_replayed_events_total", "counter", WS, "Events replayed to resuming sessions."
)
WS_DISCONNECTS = _metric(
    "gochat_ws_disconnects_total", "counter", WS,
    "Connections the gateway closed, by close code name (TOO_SLOW, SESSION_TIMED_OUT, "
    "...).", ("reason",),
)  # fmt: skip
WS_TYPING_LIMITED = _metric(
    "gochat_ws_typing_limited_total", "counter", WS, "Typing signals dropped by the limit."
)
WS_DRAINED = _metric(
    "gochat_ws_drained_total", "counter", WS, "Sessions told to reconnect during a drain."
)
WS_IDENTIFIES = _metric(
    "gochat_ws_identifies_total", "counter", WS,
    "IDENTIFY attempts, by outcome (ready: READY sent; auth_failed: token refused or user "
    "unknown; abandoned: the connection went before READY; failed: an error, closed with "
    "UNKNOWN_ERROR).", ("outcome",),
)  # fmt: skip
WS_DELIVERY_LATENCY = _metric(
    "gochat_ws_message_delivery_seconds", "histogram", WS,
    "Send to delivery of MESSAGE_CREATE, one observation per session it is queued for: the "
    "gateway's wall clock then minus the creation time in the message's snowflake id (the "
    "API's wall clock), by scope (guild, dm). The flush window after it is not included.",
    ("scope",),
)  # fmt: skip
WS_LATE_COPIES = _metric(
    "gochat_ws_late_copies_dropped_total", "counter", WS,
    "Events dropped as late copies (outbox seq not above the last one read for their scope).",
)  # fmt: skip
INDEXER_DOCUMENTS = _metric(
    "gochat_indexer_documents_total", "counter", INDEXER,
    "Index writes by operation: upsert and delete count documents, purge counts deleted "
    "channels and guilds whose documents were removed.", ("operation",),
)  # fmt: skip
INDEXER_BATCH_SECONDS = _metric(
    "gochat_indexer_batch_duration_seconds", "histogram", INDEXER,
    "Time to process one fetched batch, from parse to the last acknowledgement.",
)  # fmt: skip
INDEXER_BATCH_MESSAGES = _metric(
    "gochat_indexer_batch_messages", "histogram", INDEXER, "Messages per fetched batch."
)
INDEXER_CONSUMER_LAG = _metric(
    "gochat_indexer_consumer_lag", "gauge", INDEXER,
    "Message events in the stream not yet handed to the indexer's consumer.",
)  # fmt: skip
INDEXER_INDEX_AVAILABLE = _metric(
    "gochat_indexer_index_available", "gauge", INDEXER,
    "1 after a batch was written, 0 while the index's health check fails and batches are "
    "handed back (with gochat_indexer_consumer_lag: how far behind the index is).",
)  # fmt: skip
INDEXER_DEAD_LETTERS = _metric(
    "gochat_indexer_dead_letters_total", "counter", INDEXER,
    "Messages moved to the dead-letter subject, by reason (unparseable, failing).", ("reason",),
)  # fmt: skip
INDEXER_RETRIES = _metric(
    "gochat_indexer_retries_total", "counter", INDEXER,
    "Messages handed back for a later redelivery after an index write failed.",
)  # fmt: skip
SEARCH_BULK_FAILED_ITEMS = _metric(
    "gochat_search_bulk_failed_items_total", "counter", INDEXER,
    "Bulk items OpenSearch refused (version conflicts of stale events excluded), by "
    "reason; their events are not acknowledged and come back.",
    ("reason",),
)  # fmt: skip
OPERATOR_RECONCILES = _metric(
    "gochat_operator_reconciles_total", "counter", OPERATOR,
    "Reconciles of GoChatClusters by result (success, degraded, error).", ("result",),
)  # fmt: skip
OPERATOR_RECONCILE_SECONDS = _metric(
    "gochat_operator_reconcile_duration_seconds", "histogram", OPERATOR,
    "Wall time of one reconcile of one GoChatCluster.",
)  # fmt: skip
OPERATOR_CLUSTERS = _metric(
    "gochat_operator_clusters", "gauge", OPERATOR,
    "GoChatClusters by phase, as last reconciled.", ("phase",),
)  # fmt: skip
OPERATOR_CLUSTER_PAUSED = _metric(
    "gochat_operator_cluster_paused", "gauge", OPERATOR,
    "1 while a GoChatCluster carries the pause annotation (not reconciled), else 0; the "
    "series goes when the cluster is deleted.", ("namespace", "name"),
)  # fmt: skip

CATALOGUE: tuple[Metric, ...] = tuple(
    value for value in dict(globals()).values() if isinstance(value, Metric)
)


def by_series_name() -> dict[str, Metric]:
    """Every series name a query may use (histograms' `_bucket`/`_sum`/`_count` included)."""
    return {series: metric for metric in CATALOGUE for series in metric.series_names()}


def exported_by(service: str) -> tuple[Metric, ...]:
    return tuple(metric for metric in CATALOGUE if service in metric.services)
