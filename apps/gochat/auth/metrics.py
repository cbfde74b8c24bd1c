"""The auth service's own counters (the shared HTTP ones live in gochat.core.metrics)."""

from __future__ import annotations

from prometheus_client import Counter

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
