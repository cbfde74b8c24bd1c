"""The auth service's own counters (the shared HTTP ones live in gochat.core.metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

LOGINS = Counter(
    "gochat_auth_logins_total",
    "Login attempts, by result (ok, invalid_credentials, email_not_confirmed, rate_limited).",
    ["result"],
)
REGISTRATIONS = Counter("gochat_auth_registrations_total", "Accounts registered.")
TOKEN_REFRESHES = Counter(
    "gochat_auth_token_refreshes_total",
    "Refresh-token rotations, by result (ok, invalid, expired, revoked, reused).",
    ["result"],
)
MAIL_DELIVERIES = Counter(
    "gochat_auth_mail_deliveries_total",
    "Queued mails handled by the sender, by kind and outcome (sent; deferred: a transient "
    "failure, tried again later; failed: rejected or out of attempts, given up; dropped: a "
    "notification whose messages were all read before it went).",
    ["kind", "outcome"],
)
MAIL_QUEUE_PENDING = Gauge(
    "gochat_auth_mail_queue_pending", "Queued mails not yet sent nor given up."
)
