"""Search at scale through the SearchIndex port, OpenSearch vs PostgreSQL: `documents` messages
of one guild (50 channels, 200 authors; text from `corpus`) bulk-loaded straight through each
adapter's `upsert`, 1,000 per call, then the same queries of several shapes on both.

After the load OpenSearch is refreshed and PostgreSQL's table vacuumed and analysed (what its
refresh interval and autovacuum do in production within seconds to minutes), so neither is
measured mid-housekeeping. Every query asks for the API's default page (25, newest first) within
the channels the caller may view.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bench.dataplane import corpus, cpu_meter, stats, world
from gochat import ports
from gochat.adapters.opensearch import make_client, schema
from gochat.adapters.opensearch import search as opensearch_search
from gochat.adapters.postgres import database
from gochat.adapters.postgres import search as pg_search
from gochat.core import ids

CHANNELS, AUTHORS, MENTIONED = 50, 200, 50
SPAN_DAYS = 365
LOAD_BATCH = 1_000
PAGE = 25
PREFIX = "bench-search"
SHAPES = (
    "common_word",
    "rare_word",
    "two_words",
    "common_word_by_author",
    "common_word_in_3_channels",
    "mentions_no_text",
    "attachments_in_a_month",
)


class Guild:
    """The ids the documents and the queries share."""

    def __init__(self, count: int) -> None:
        self.guild_id = world.next_id()
        self.channels = [world.next_id() for _ in range(CHANNELS)]
        self.authors = [world.next_id() for _ in range(AUTHORS)]
        self.mentioned = self.authors[:MENTIONED]
        self.count = count
        self.now_ms = time.time_ns() // 1_000_000
        self.corpus = corpus.Corpus()

    def id_at(self, n: int) -> int:
        """The n-th message's id: evenly spread over the last SPAN_DAYS, oldest first."""
        span_ms = SPAN_DAYS * 86_400_000
        return world.crafted_id(self.now_ms - span_ms + n * span_ms // self.count, 4095)

    def documents(self, start: int, stop: int, rng: random.Random) -> list[ports.SearchDocument]:
        made = []
        for n in range(start, stop):
            message_id = self.id_at(n)
            mentions = (rng.choice(self.mentioned),) if rng.random() < 0.05 else ()
            made.append(
                ports.SearchDocument(
                    message_id=message_id,
                    guild_id=self.guild_id,
                    channel_id=rng.choice(self.channels),
                    author_id=rng.choice(self.authors),
                    content=self.corpus.text(rng),
                    mention_ids=mentions,
                    created_at=datetime.fromtimestamp(ids.timestamp_ms(message_id) / 1000, UTC),
                    has_attachment=rng.random() < 0.10,
                    version=message_id,
                )
            )
        return made

    def queries(self, per_shape: int, seed: int) -> dict[str, list[ports.SearchQuery]]:
        rng = random.Random(seed)
        words = self.corpus.words
        # Words expected in 5-50 of the messages: what someone searching for a name finds.
        rare = [
            words[rank]
            for rank in range(len(words))
            if 5 <= self.corpus.share_of_messages(rank) * self.count <= 50
        ] or words[-100:]
        base: dict[str, Any] = {
            "guild_id": self.guild_id,
            "channel_ids": self.channels,
            "limit": PAGE,
        }
        month_ms = 30 * 86_400_000

        def shape(name: str) -> ports.SearchQuery:
            if name == "common_word":
                return ports.SearchQuery(**base, text=words[0])
            if name == "rare_word":
                return ports.SearchQuery(**base, text=rng.choice(rare))
            if name == "two_words":
                return ports.SearchQuery(**base, text=" ".join(rng.sample(words[3:40], 2)))
            if name == "common_word_by_author":
                return ports.SearchQuery(**base, text=words[0], author_id=rng.choice(self.authors))
            if name == "common_word_in_3_channels":
                picked = rng.sample(self.channels, 3)
                return ports.SearchQuery(**base | {"channel_ids": picked}, text=words[0])
            if name == "mentions_no_text":
                return ports.SearchQuery(**base, text="", mentions=rng.choice(self.mentioned))
            # Files sent in one month, no text.
            start = self.now_ms - rng.randrange(month_ms, SPAN_DAYS * 86_400_000)
            return ports.SearchQuery(
                **base, text="", has_attachment=True,
                after=ids.smallest_id_at(start), before=ids.smallest_id_at(start + month_ms),
            )  # fmt: skip

        return {name: [shape(name) for _ in range(per_shape)] for name in SHAPES}


async def load(index: ports.SearchIndex, documents: Sequence[ports.SearchDocument]) -> float:
    """Seconds to upsert every document, LOAD_BATCH per call, one call at a time."""
    began = time.perf_counter()
    for start in range(0, len(documents), LOAD_BATCH):
        await index.upsert(documents[start : start + LOAD_BATCH])
    return time.perf_counter() - began


async def query_run(
    index: ports.SearchIndex, queries: dict[str, list[ports.SearchQuery]]
) -> dict[str, Any]:
    """Each shape's queries one after the other: latency summary and every total."""
    shapes = {}
    for shape, batch in queries.items():
        latencies, totals = [], []
        for query in batch:
            began = time.perf_counter()
            result = await index.search(query)
            latencies.append(time.perf_counter() - began)
            totals.append(result.total)
        shapes[shape] = {**stats.latency_summary(latencies), "totals": totals}
    return shapes


async def measure(
    *, db: database.Database, opensearch_url: str, documents: int, per_shape: int,
    repetitions: int, say: Any, meter: cpu_meter.Meter,
) -> dict[str, Any]:  # fmt: skip
    guild = Guild(documents)
    docs = guild.documents(0, documents, random.Random(1))  # the same documents for both
    client = make_client(opensearch_url, timeout=120)
    names = schema.Names(PREFIX)
    try:
        await schema.ensure(client, names, replicas=0)
        await db.fetch("bench_reset_search", "TRUNCATE search_documents")
        indexes: dict[str, ports.SearchIndex] = {
            "opensearch": opensearch_search.OpenSearchSearchIndex(client, names),
            "postgres": pg_search.PostgresSearchIndex(db),
        }
        loads: dict[str, dict[str, Any]] = {}
        for name, index in indexes.items():
            cpu_before = meter.snapshot()
            seconds = await load(index, docs)
            loads[name] = {"seconds": seconds, "documents_per_s": documents / seconds,
                           "cpu_seconds": meter.since(cpu_before)}  # fmt: skip
            say(f"search load {name}: {documents / seconds:.0f} documents/s")
        began = time.perf_counter()
        await client.indices.refresh(index=names.write_alias)
        loads["opensearch"]["refresh_seconds"] = time.perf_counter() - began
        began = time.perf_counter()
        async with db.connection("bench_vacuum_search") as conn:
            await conn.execute("VACUUM ANALYZE search_documents")
        loads["postgres"]["vacuum_analyze_seconds"] = time.perf_counter() - began
        queries = guild.queries(per_shape, seed=3)
        warm_up = {shape: batch[:5] for shape, batch in queries.items()}
        for index in indexes.values():
            await query_run(index, warm_up)
        runs = []
        for repetition in range(repetitions):
            for name in stats.rotated(sorted(indexes), repetition):
                cpu_before = meter.snapshot()
                shapes = await query_run(indexes[name], queries)
                cpu_seconds = meter.since(cpu_before)
                say(f"search {name}: common word p50 {shapes['common_word']['p50_ms']:.1f} ms")
                runs.append({"backend": name, "repetition": repetition, "shapes": shapes,
                             "cpu_seconds": cpu_seconds})  # fmt: skip
        return {
            "documents": documents,
            "channels": CHANNELS,
            "authors": AUTHORS,
            "queries_per_shape": per_shape,
            "load": loads,
            "load_opensearch_vs_postgres": (
                loads["opensearch"]["documents_per_s"] / loads["postgres"]["documents_per_s"]
            ),
            "shapes": {shape: _shape_summary(runs, shape) for shape in queries},
            "runs": [_without_totals(run) for run in runs],
        }
    finally:
        await schema.drop_all(client, names)
        await client.close()


def _shape_summary(runs: list[dict[str, Any]], shape: str) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for quantile in ("p50_ms", "p99_ms"):
        flat = [{"backend": r["backend"], "value": r["shapes"][shape][quantile]} for r in runs]
        values = stats.medians(flat, key="value")
        summary[f"median_{quantile}"] = values
        summary[f"{quantile}_opensearch_vs_postgres"] = values["opensearch"] / values["postgres"]
    first = {r["backend"]: r["shapes"][shape]["totals"] for r in runs if r["repetition"] == 0}
    pairs = list(zip(first["opensearch"], first["postgres"], strict=True))
    summary["median_total"] = {
        name: sorted(totals)[len(totals) // 2] for name, totals in first.items()
    }
    summary["same_total_share"] = sum(a == b for a, b in pairs) / len(pairs)
    return summary


def _without_totals(run: dict[str, Any]) -> dict[str, Any]:
    shapes = {
        shape: {k: v for k, v in values.items() if k != "totals"}
        for shape, values in run["shapes"].items()
    }
    return {**run, "shapes": shapes}
