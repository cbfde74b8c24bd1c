"""Message writes and history reads through the MessageStore port, PostgreSQL vs Cassandra.

Writes: `writers` concurrent senders, one channel each (a shared channel would measure the
lock on its `last_message_id` row, which both stores take), `create` with one MESSAGE_CREATE
event each, as the API calls it; diagnostic writers may run beside the two stores (run.py: the
Cassandra timeline alone, PostgreSQL waiting for each commit's WAL flush). History: channels
whose messages were sent long ago, spread over many ten-day buckets (`ids.bucket_of`), read 50
per page: the newest page, and deep pages (`before` a random message of the older half);
with `--only history`, a diagnostic Cassandra store whose history remembers no channel's rows
per bucket (FORGETTING, run.py) reads the Cassandra store's channel beside the two.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bench.dataplane import cpu_meter, stats, world
from gochat import ports
from gochat.adapters.cassandra import timeline
from gochat.adapters.cassandra.session import CassandraSession
from gochat.core import ids
from gochat.core.events import Event

PAGE = 50
FORGETTING = "cassandra_forgetting"


class Creates(Protocol):
    """The part of the MessageStore a write run needs."""

    async def create(
        self,
        message: ports.MessageRecord,
        *,
        events: Sequence[Event],
        mention_reader_ids: Sequence[int] = (),
    ) -> None: ...


class CassandraTimelineOnly:
    """A diagnostic, not a store: the Cassandra store's own writes for a send (its Timeline:
    the bucket row once per channel, then the message row) without the PostgreSQL intent and
    completion around them, so a run shows what the two PostgreSQL transactions cost. Needs
    the statements the store prepared on `session`."""

    def __init__(self, session: CassandraSession) -> None:
        self._timeline = timeline.Timeline(session)

    async def create(
        self,
        message: ports.MessageRecord,
        *,
        events: Sequence[Event],
        mention_reader_ids: Sequence[int] = (),
    ) -> None:
        await self._timeline.write(message)


@dataclass(frozen=True)
class HistoryShape:
    name: str
    buckets: int
    per_bucket: int


async def write_run(
    store: Creates,
    sends: Sequence[world.Sent],
    *,
    writers: int,
    meter: cpu_meter.Meter | None = None,
) -> dict[str, Any]:
    """Send everything, `writers` at a time (writer i takes sends[i::writers]); the rate and
    the latency of each `create`."""
    latencies: list[float] = []

    async def writer(mine: Sequence[world.Sent]) -> None:
        for sent in mine:
            began = time.perf_counter()
            await store.create(sent.record, events=sent.events)
            latencies.append(time.perf_counter() - began)

    cpu_before = meter.snapshot() if meter else {}
    began = time.perf_counter()
    await asyncio.gather(*(writer(sends[i::writers]) for i in range(writers)))
    seconds = time.perf_counter() - began
    return {
        "cpu_seconds": meter.since(cpu_before) if meter else {},
        "messages": len(sends),
        "writers": writers,
        "seconds": seconds,
        "messages_per_s": len(sends) / seconds,
        "create": stats.latency_summary(latencies),
    }


def history_sends(
    w: world.World, channel_id: int, shape: HistoryShape, *, sequence: int
) -> list[world.Sent]:
    """`per_bucket` messages a minute apart in each of `buckets` ten-day buckets going back
    from now, oldest first; `sequence` keeps the ids of different channels apart."""
    now_ms = time.time_ns() // 1_000_000
    sends = []
    for back in range(shape.buckets, 0, -1):
        start = now_ms - back * ids.BUCKET_MS
        for n in range(shape.per_bucket):
            message_id = world.crafted_id(start + n * 60_000, sequence)
            text = f"history {shape.name} {back} {n}"
            sends.append(w.message(channel_id, text, message_id=message_id))
    return sends


async def read_run(
    store: ports.MessageStore,
    channel_id: int,
    message_ids: Sequence[int],
    *,
    reads: int,
    seed: int,
) -> dict[str, Any]:
    """`reads` newest pages, then `reads` deep pages (anchors drawn with `seed`, the same for
    every store); each must come back full."""
    older_half = sorted(message_ids)[PAGE : max(PAGE + 1, len(message_ids) // 2)]
    anchors = random.Random(seed).choices(older_half, k=reads)
    newest: list[float] = []
    deep: list[float] = []
    spans: list[int] = []
    for _ in range(reads):
        began = time.perf_counter()
        page = await store.list(channel_id, limit=PAGE)
        newest.append(time.perf_counter() - began)
        assert len(page) == PAGE, len(page)
    for anchor in anchors:
        began = time.perf_counter()
        page = await store.list(channel_id, before=anchor, limit=PAGE)
        deep.append(time.perf_counter() - began)
        assert len(page) == PAGE and page[0].id < anchor, (len(page), anchor)
        spans.append(len({ids.bucket_of(m.id) for m in page}))
    return {
        "newest_page": stats.latency_summary(newest),
        "deep_page": stats.latency_summary(deep),
        "buckets_per_deep_page": sum(spans) / len(spans),
    }


async def measure(
    stores: dict[str, ports.MessageStore],
    w: world.World,
    db: Any,
    *,
    writes: int,
    writers: int,
    shapes: Sequence[HistoryShape],
    reads: int,
    repetitions: int,
    say: Any,
    meter: cpu_meter.Meter,
    diagnostics: dict[str, Creates],
) -> dict[str, Any]:
    """`diagnostics`: more writers run beside the stores in the write section only."""
    writing: dict[str, Creates] = {**stores, **diagnostics}
    names = sorted(writing)
    channels = {name: await w.channels(db, writers, label=f"write-{name}") for name in names}

    def sends(name: str, label: str, count: int) -> list[world.Sent]:
        # Message j goes to channel j mod writers, so writer i keeps to channel i.
        return [
            w.message(channels[name][j % writers], f"bench write {label} {j}") for j in range(count)
        ]

    for name in names:  # prepared statements, pools, JIT: none of it in the first measured run
        warm_up = sends(name, "warm-up", max(writers * 5, writes // 4))
        await write_run(writing[name], warm_up, writers=writers)
    write_runs = []
    for repetition in range(repetitions):
        for name in stats.rotated(names, repetition):
            batch = sends(name, str(repetition), writes)
            run = await write_run(writing[name], batch, writers=writers, meter=meter)
            say(f"writes {name}: {run['messages_per_s']:.0f} messages/s")
            write_runs.append({"backend": name, "repetition": repetition, **run})
    rates = stats.medians(write_runs, key="messages_per_s")
    result: dict[str, Any] = {
        "writes": {
            "runs": write_runs,
            "median_messages_per_s": rates,
            "cassandra_vs_postgres": rates["cassandra"] / rates["postgres"],
        },
        "history": {},
    }
    for number, shape in enumerate(shapes):
        result["history"][shape.name] = await _history(
            stores, w, db, shape, number=number, writers=writers, reads=reads,
            repetitions=repetitions, say=say,
        )  # fmt: skip
    return result


async def _history(
    stores: dict[str, ports.MessageStore],
    w: world.World,
    db: Any,
    shape: HistoryShape,
    *,
    number: int,
    writers: int,
    reads: int,
    repetitions: int,
    say: Any,
) -> dict[str, Any]:
    names = sorted(stores)
    loaded: dict[str, tuple[int, list[int]]] = {}
    loads = {}
    for position, name in enumerate(names):
        if name == FORGETTING:  # the same partitions as the Cassandra store: only reads differ
            loaded[name] = loaded["cassandra"]
            continue
        [channel] = await w.channels(db, 1, label=f"history-{shape.name}-{name}")
        sends = history_sends(w, channel, shape, sequence=number * len(names) + position)
        loads[name] = await write_run(stores[name], sends, writers=writers)
        loaded[name] = (channel, [sent.record.id for sent in sends])
    runs = []
    for repetition in range(repetitions):
        for name in stats.rotated(names, repetition):
            channel, message_ids = loaded[name]
            run = await read_run(stores[name], channel, message_ids, reads=reads, seed=repetition)
            say(f"history {shape.name} {name}: deep p50 {run['deep_page']['p50_ms']:.1f} ms")
            runs.append({"backend": name, "repetition": repetition, **run})
    summary: dict[str, Any] = {
        "buckets": shape.buckets,
        "messages_per_bucket": shape.per_bucket,
        "messages": shape.buckets * shape.per_bucket,
        "load": {
            name: {k: v for k, v in load.items() if k != "create"} for name, load in loads.items()
        },
        "runs": runs,
    }
    for page in ("newest_page", "deep_page"):
        for quantile in ("p50_ms", "p99_ms"):
            flat = [{"backend": r["backend"], "value": r[page][quantile]} for r in runs]
            values = stats.medians(flat, key="value")
            summary[f"median_{page}_{quantile}"] = values
            summary[f"{page}_{quantile}_cassandra_vs_postgres"] = (
                values["cassandra"] / values["postgres"]
            )
            if FORGETTING in values:
                summary[f"{page}_{quantile}_cassandra_vs_{FORGETTING}"] = (
                    values["cassandra"] / values[FORGETTING]
                )
    return summary
