"""Prometheus collectors every service shares. Service-specific counters live beside their code."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "gochat_http_requests_total",
    "HTTP requests served, by route template and status.",
    ["service", "method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "gochat_http_request_duration_seconds",
    "HTTP request latency, by route template.",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DB_QUERY_LATENCY = Histogram(
    "gochat_db_transaction_duration_seconds",
    "Named database transactions, by name and outcome.",
    ["service", "name", "outcome"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)
EVENTS_PUBLISHED = Counter(
    "gochat_events_published_total", "Outbox events published to JetStream.", ["type"]
)
OUTBOX_PUBLISH_FAILURES = Counter(
    "gochat_outbox_publish_failures_total", "Failed attempts to publish the outbox."
)
