"""The indexer's Prometheus collectors (`gochat_indexer_*`), served on its /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DOCUMENTS = Counter(
    "gochat_indexer_documents_total",
    "Index writes by operation: upsert and delete count documents, purge counts deleted "
    "channels and guilds whose documents were removed.",
    ["operation"],
)
BATCH_SECONDS = Histogram(
    "gochat_indexer_batch_duration_seconds",
    "Time to process one fetched batch, from parse to the last acknowledgement.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BATCH_SIZE = Histogram(
    "gochat_indexer_batch_messages",
    "Messages per fetched batch.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000),
)
CONSUMER_LAG = Gauge(
    "gochat_indexer_consumer_lag",
    "Message events in the stream not yet handed to the indexer's consumer.",
)
DEAD_LETTERS = Counter(
    "gochat_indexer_dead_letters_total",
    "Messages moved to the dead-letter subject, by reason (unparseable, failing).",
    ["reason"],
)
RETRIES = Counter(
    "gochat_indexer_retries_total",
    "Messages handed back for a later redelivery after an index write failed.",
)
INDEX_AVAILABLE = Gauge(
    "gochat_indexer_index_available",
    "1 after a batch was written, 0 while the index's health check fails and batches are "
    "handed back (with gochat_indexer_consumer_lag: how far behind the index is).",
)
