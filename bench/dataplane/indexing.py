"""The indexer end to end, OpenSearch vs PostgreSQL: N message events already in JetStream,
then one in-process indexer (`running_indexer`, as the indexer service runs it, default batch
of 100) until every message is searchable through the SearchIndex port.

Each run has a stream, a consumer and an empty index of its own (OpenSearch: a fresh index
layout, as `gochat migrate` makes it, without replicas on one node; PostgreSQL: the
`search_documents` table truncated; `postgres_synchronous_commit`: the same with each commit
waiting for its WAL flush, as OpenSearch fsyncs its translog before answering a bulk request).
The clock starts before the indexer connects; `drained`
is when its consumer has acknowledged everything, `searchable` when a search for the run's own
word finds every message (OpenSearch shows writes after its 1 s refresh interval).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator
from typing import Any

from bench.dataplane import corpus, cpu_meter, servers, stats, world
from gochat import ports
from gochat.adapters.nats import connection, stream
from gochat.adapters.opensearch import make_client, schema
from gochat.adapters.opensearch import search as opensearch_search
from gochat.adapters.postgres import database
from gochat.adapters.postgres import search as pg_search
from gochat.core import config
from gochat.indexer import app as indexer_app

# variant -> (search_backend, suffix of the indexer's DSN)
VARIANTS = {
    "opensearch": ("opensearch", ""),
    "postgres": ("postgres", ""),
    "postgres_synchronous_commit": ("postgres", servers.FLUSH_EACH_COMMIT),
}
CHANNELS = 10
CONSUMER = "bench-indexer"


async def publish(js: Any, w: world.World, channels: list[int], *, count: int, marker: str) -> None:
    """`count` MESSAGE_CREATE events as the outbox relay publishes them (Nats-Msg-Id)."""
    text = corpus.Corpus(words=2_000)
    rng = random.Random(count)
    pending = []
    for n in range(count):
        sent = w.message(channels[n % CHANNELS], f"{marker} {text.text(rng)}")
        [event] = sent.events
        data = event.model_dump_json().encode()
        headers = {"Nats-Msg-Id": str(event.id)}
        pending.append(await js.publish_async(event.subject, data, headers=headers))
        if len(pending) >= 1000:
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)


@contextlib.asynccontextmanager
async def empty_index(
    backend: str, *, db: database.Database, opensearch_url: str, prefix: str
) -> AsyncIterator[ports.SearchIndex]:
    if backend == "postgres":
        await db.fetch("bench_reset_search", "TRUNCATE search_documents")
        yield pg_search.PostgresSearchIndex(db)
        return
    client = make_client(opensearch_url)
    names = schema.Names(prefix)
    try:
        await schema.ensure(client, names, replicas=0)
        yield opensearch_search.OpenSearchSearchIndex(client, names)
        await schema.drop_all(client, names)
    finally:
        await client.close()


async def index_run(
    variant: str, *, pg_dsn: str, db: database.Database, nats_url: str, opensearch_url: str,
    events: int, label: str, meter: cpu_meter.Meter,
) -> dict[str, Any]:  # fmt: skip
    backend, dsn_suffix = VARIANTS[variant]
    name = f"BENCH_INDEX_{label}".upper().replace("-", "_")
    prefix = f"bench-index-{label}"
    marker = "marker" + "".join(char for char in label if char.isalnum())
    w = world.unsaved()  # the index needs no guild, channel or user rows
    channels = [world.next_id() for _ in range(CHANNELS)]
    client = await connection.connect(nats_url, name="bench-index-publisher")
    js = client.jetstream()
    try:
        await stream.ensure_stream(js, name)
        await publish(js, w, channels, count=events, marker=marker)
        cfg = config.IndexerConfig(
            pg_dsn=pg_dsn + dsn_suffix, pg_pool_min=0, pg_pool_max=4, nats_url=nats_url,
            nats_stream=name, consumer_name=CONSUMER, search_backend=backend,
            opensearch_url=opensearch_url, opensearch_index_prefix=prefix,
            shutdown_grace_seconds=10,
        )  # fmt: skip
        query = ports.SearchQuery(guild_id=w.guild_id, text=marker, channel_ids=channels, limit=1)
        async with empty_index(
            backend, db=db, opensearch_url=opensearch_url, prefix=prefix
        ) as index:
            cpu_before = meter.snapshot()
            began = time.perf_counter()
            async with indexer_app.running_indexer(cfg):
                while True:
                    info = await js.consumer_info(name, CONSUMER)
                    if info.num_pending == 0 and info.num_ack_pending == 0:
                        break
                    await asyncio.sleep(0.01)
                drained = time.perf_counter() - began
                expected = min(events, ports.SEARCH_TOTAL_LIMIT)
                while (await index.search(query)).total < expected:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
                searchable = time.perf_counter() - began
                cpu_seconds = meter.since(cpu_before)
        await js.delete_stream(name)
    finally:
        await client.close()
    return {
        "events": events,
        "drained_seconds": drained,
        "searchable_seconds": searchable,
        "documents_per_s": events / searchable,
        "cpu_seconds": cpu_seconds,
    }


async def measure(
    *, pg_dsn: str, db: database.Database, nats_url: str, opensearch_url: str, events: int,
    repetitions: int, say: Any, meter: cpu_meter.Meter,
) -> dict[str, Any]:  # fmt: skip
    backends = sorted(VARIANTS)
    runs = []
    for repetition in range(-1, repetitions):  # -1: a warm-up run of each, not counted
        for backend in stats.rotated(backends, max(repetition, 0)):
            run = await index_run(
                backend, pg_dsn=pg_dsn, db=db, nats_url=nats_url, opensearch_url=opensearch_url,
                events=events if repetition >= 0 else min(events, 500),
                label=f"{backend}-{repetition + 1}", meter=meter,
            )  # fmt: skip
            say(f"indexer {backend}: {run['documents_per_s']:.0f} documents/s")
            if repetition >= 0:
                runs.append({"backend": backend, "repetition": repetition, **run})
    rates = stats.medians(runs, key="documents_per_s")
    return {
        "events": events,
        "batch_size": config.IndexerConfig.model_fields["batch_size"].default,
        "runs": runs,
        "median_documents_per_s": rates,
        "median_drained_seconds": stats.medians(runs, key="drained_seconds"),
        "opensearch_vs_postgres": rates["opensearch"] / rates["postgres"],
        "opensearch_vs_postgres_synchronous_commit": (
            rates["opensearch"] / rates["postgres_synchronous_commit"]
        ),
    }
