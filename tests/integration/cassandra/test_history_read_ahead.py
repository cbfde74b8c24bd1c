"""Cassandra history reads ahead (adapters/cassandra/history.py): the next buckets of a page are
read together, yet every page holds the same messages in the same order as PostgreSQL's, empty
buckets are never read, reads beyond a full page are cancelled, and a failing read the page
needs raises in the coroutine awaiting the page (503), one beyond it does not."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gochat import ports
from gochat.adapters.cassandra import history
from gochat.adapters.cassandra import messages as cassandra_messages
from gochat.adapters.cassandra import session as cassandra_session
from gochat.adapters.postgres import database
from gochat.adapters.postgres import messages as pg_messages
from gochat.core import ids
from tests.integration.cassandra.counting_session import CountingSession, open_store
from tests.integration.ports import message_world as world

PAGE_READS = {"page_newest", "page_before", "page_from"}
# Each test uses buckets of its own, in the past and apart from other tests': a message is
# written at its snowflake's time, so a bucket emptied by an earlier test of the session
# (a partition tombstone written now) would hide it.


class ObservedSession(CountingSession):
    """The store's session, recording its queries (`CountingSession`); page reads can also be
    held at a gate or made to fail (per bucket), and it records when each query started and
    ended, how many page reads were in flight at once, and which were cancelled."""

    def __init__(self, inner: cassandra_session.CassandraSession) -> None:
        super().__init__(inner)
        self.log: list[tuple[str, str, int | None]] = []  # ("start" | "end", name, bucket)
        self.listed = asyncio.Event()  # a bucket list was read
        self.held: dict[int, asyncio.Event] = {}
        self.failing: set[int] = set()
        self.failed = asyncio.Event()
        self.cancelled: list[int] = []
        self.in_flight = 0
        self.most_in_flight = 0

    def page_reads(self) -> list[int]:
        return [args[1] for name, args in self.calls if name in PAGE_READS]

    def rounds(self) -> list[list[int]]:
        """The page reads, grouped by round: the buckets whose reads started together, before
        any read ended (a round's reads are all started before the walk awaits the first)."""
        rounds: list[list[int]] = []
        started_together = False
        for event, name, bucket in self.log:
            if name not in PAGE_READS:
                continue
            if event == "start":
                if not started_together:
                    rounds.append([])
                rounds[-1].append(bucket)  # type: ignore[arg-type]
            started_together = event == "start"
        return rounds

    def clear(self) -> None:
        self.calls.clear()
        self.log.clear()

    async def run(self, name: str, statement: Any = None, args: Any = ()) -> Any:
        bucket = args[1] if name in PAGE_READS else None
        self.log.append(("start", name, bucket))
        try:
            return await super().run(name, statement, args)
        finally:
            self.log.append(("end", name, bucket))
            if name.startswith("buckets"):
                self.listed.set()

    async def execute(self, name: str, statement: Any, args: Any) -> Any:
        if name not in PAGE_READS:
            return await super().execute(name, statement, args)
        bucket = args[1]
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if bucket in self.held:
                await self.held[bucket].wait()
            if bucket in self.failing:
                self.failed.set()
                raise cassandra_session.StoreUnavailable(f"Cassandra did not answer {name}")
            return await super().execute(name, statement, args)
        except asyncio.CancelledError:
            self.cancelled.append(bucket)
            raise
        finally:
            self.in_flight -= 1


@pytest.fixture
async def observed(
    message_db: database.Database,
    cassandra_keyspace: cassandra_session.Settings,
    cassandra_db: cassandra_session.CassandraSession,
) -> AsyncIterator[tuple[cassandra_messages.CassandraMessageStore, ObservedSession]]:
    session = ObservedSession(cassandra_db)
    yield await open_store(session, message_db), session


def bucket_start(bucket: int) -> int:
    """The smallest id of time bucket `bucket`."""
    return ids.smallest_id_at(ids.GOCHAT_EPOCH_MS + bucket * ids.BUCKET_MS)


def message_in_bucket(bucket: int, sequence: int, *, at_end: bool = False) -> ports.MessageRecord:
    """A message `sequence` ms into bucket `bucket` (or before its end, with `at_end`)."""
    offset = ids.BUCKET_MS - 1 - sequence if at_end else sequence
    when = ids.GOCHAT_EPOCH_MS + bucket * ids.BUCKET_MS + offset
    message_id = ids.smallest_id_at(when) | 1
    message = world.new_message(f"b{bucket}-{sequence}")
    return dataclasses.replace(message, id=message_id, created_at=ids.created_at(message_id))


async def send_all(store: ports.MessageStore, messages: list[ports.MessageRecord]) -> None:
    for message in messages:
        await store.create(message, events=[])


async def test_pages_over_many_sparse_and_emptied_buckets_match_postgres_at_every_cursor(
    observed: tuple[cassandra_messages.CassandraMessageStore, ObservedSession],
    message_db: database.Database,
) -> None:
    store, session = observed
    postgres = pg_messages.PostgresMessageStore(message_db)
    # 1-3 messages in 14 buckets between unused ones, some at a bucket's first and last
    # millisecond; buckets 72-77 are listed but hold nothing (sends taken back out).
    used = [44, 45, 47, 51, 52, 53, 54, 62, 63, 71, 78, 82, 83, 86]
    sent = []
    for position, bucket in enumerate(used):
        sent += [message_in_bucket(bucket, n) for n in range(position % 3)]
        sent.append(message_in_bucket(bucket, 0, at_end=True))
    await send_all(store, sent)
    await send_all(postgres, sent)
    for emptied in range(72, 78):
        await session.run("add_bucket", args=(world.GENERAL, emptied))

    edges = [bucket_start(b) + d for b in (*used, 72, 75, 87) for d in (-1, 0, 1)]
    cursors = sorted({m.id for m in sent} | set(edges))
    for limit in (1, 2, 3, 7, 50):
        assert [m.id for m in await store.list(world.GENERAL, limit=limit)] == [
            m.id for m in await postgres.list(world.GENERAL, limit=limit)
        ]
        for cursor in cursors:
            for anchor in ("before", "after", "around"):
                on_cassandra = await store.list(world.GENERAL, limit=limit, **{anchor: cursor})
                on_postgres = await postgres.list(world.GENERAL, limit=limit, **{anchor: cursor})
                assert [m.id for m in on_cassandra] == [m.id for m in on_postgres], (
                    anchor,
                    cursor,
                    limit,
                )
                assert on_cassandra == on_postgres
    # Buckets never used were never read, but for a cursor's own (read with the bucket list).
    cursor_buckets = {ids.bucket_of(cursor) for cursor in cursors}
    assert set(session.page_reads()) <= {*used, *range(72, 78), *cursor_buckets}


async def test_a_sparse_page_reads_its_buckets_in_rounds_and_the_empty_ones_never(
    observed: tuple[cassandra_messages.CassandraMessageStore, ObservedSession],
) -> None:
    store, session = observed
    # Five messages in each of 12 buckets, every other bucket of 11..33 (the others empty).
    used = list(range(11, 35, 2))
    sent = [message_in_bucket(bucket, n) for bucket in used for n in range(5)]
    await send_all(store, sent)
    session.calls.clear()

    page = await store.list(world.GENERAL, limit=50)

    assert [m.id for m in page] == [m.id for m in reversed(sent)][:50]
    # Ten buckets, newest first: two, then four (the page still needs 40 at 5 per bucket),
    # then four; never more than four at once, never a bucket the page does not need.
    assert session.page_reads() == used[::-1][:10]
    assert session.most_in_flight == history.READ_AHEAD_MAX
    # One bounded read of the bucket list.
    [(name, args)] = [call for call in session.calls if call[0].startswith("buckets")]
    assert name == "buckets_down" and args[2] == 50


async def test_a_dense_page_reads_two_buckets_and_cancels_the_one_it_does_not_need(
    observed: tuple[cassandra_messages.CassandraMessageStore, ObservedSession],
) -> None:
    store, session = observed
    sent = [message_in_bucket(bucket, n) for bucket in (0, 1, 2) for n in range(30)]
    await send_all(store, sent)
    session.calls.clear()
    session.held[1] = asyncio.Event()  # never answers

    page = await store.list(world.GENERAL, limit=20)

    assert [m.id for m in page] == [m.id for m in reversed(sent)][:20]
    assert session.page_reads() == [2, 1]
    assert session.cancelled == [1]
    assert session.in_flight == 0


async def test_a_before_cursor_reads_its_bucket_together_with_the_bucket_list(
    observed: tuple[cassandra_messages.CassandraMessageStore, ObservedSession],
) -> None:
    store, session = observed
    sent = [message_in_bucket(bucket, n) for bucket in (4, 6) for n in range(3)]
    await send_all(store, sent)
    session.calls.clear()
    session.held[6] = asyncio.Event()

    listing = asyncio.create_task(store.list(world.GENERAL, before=sent[-1].id, limit=4))
    await session.listed.wait()
    # The cursor's bucket was asked for before the bucket list said it is used.
    assert session.log.index(("start", "page_before", 6)) < session.log.index(
        ("end", "buckets_down", None)
    )
    session.held[6].set()

    assert [m.id for m in await listing] == [m.id for m in reversed(sent[:-1])][:4]


async def test_a_failing_read_the_page_needs_raises_in_the_awaiting_coroutine(
    observed: tuple[cassandra_messages.CassandraMessageStore, ObservedSession],
) -> None:
    store, session = observed
    sent = [message_in_bucket(bucket, n) for bucket in (34, 36, 38) for n in range(2)]
    await send_all(store, sent)
    session.failing.add(36)

    for anchor in ({}, {"before": sent[-1].id}, {"after": sent[0].id}, {"around": sent[2].id}):
        with pytest.raises(cassandra_session.StoreUnavailable) as raised:
            await store.list(world.GENERAL, limit=4, **anchor)
        assert raised.value.headers == {"Retry-After": "2"}  # the 503 the API answers
    assert session.in_flight == 0


async def test_a_failing_read_beyond_a_full_page_is_no_error_of_the_page(
    observed: tuple[cassandra_messages.CassandraMessageStore, ObservedSession],
) -> None:
    store, session = observed
    sent = [message_in_bucket(bucket, n) for bucket in (35, 37, 39) for n in range(2)]
    await send_all(store, sent)
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: unhandled.append(context))
    # Bucket 37's read fails while bucket 39's, which fills the page, is still on its way.
    session.failing.add(37)
    session.held[39] = asyncio.Event()
    listing = asyncio.create_task(store.list(world.GENERAL, limit=2))
    await asyncio.wait_for(session.failed.wait(), timeout=30)
    session.held[39].set()

    assert [m.id for m in await listing] == [sent[5].id, sent[4].id]
    assert session.page_reads() == [39, 37]
    gc.collect()
    await asyncio.sleep(0)
    assert unhandled == []
    loop.set_exception_handler(None)


async def test_a_cursors_bucket_sizes_the_next_round_so_a_dense_page_reads_one_bucket_more(
    observed: tuple[cassandra_messages.CassandraMessageStore, ObservedSession],
) -> None:
    store, session = observed
    sent = [message_in_bucket(bucket, n) for bucket in (90, 91, 92, 93) for n in range(30)]
    await send_all(store, sent)
    session.calls.clear()
    cursor = sent[3 * 30 + 15]  # 15 messages below it in bucket 93

    page = await store.list(world.GENERAL, before=cursor.id, limit=20)

    assert [m.id for m in page] == [m.id for m in reversed(sent[: 3 * 30 + 15])][:20]
    # 15 rows in the cursor's bucket: the 5 still missing fit in one more bucket.
    assert session.page_reads() == [93, 92]


async def test_a_dense_channels_newest_page_reads_one_bucket_once_its_density_is_known(
    observed: tuple[cassandra_messages.CassandraMessageStore, ObservedSession],
) -> None:
    store, session = observed
    sent = [message_in_bucket(bucket, n) for bucket in (100, 101, 102) for n in range(30)]
    await send_all(store, sent)
    session.clear()

    first = await store.list(world.GENERAL, limit=20)
    # A channel this process has not read yet: two buckets at once.
    assert session.rounds() == [[102, 101]]
    session.clear()

    again = await store.list(world.GENERAL, limit=20)
    # Its newest bucket filled the last page: one bucket, nothing read for nothing.
    assert session.rounds() == [[102]]
    assert [m.id for m in again] == [m.id for m in first] == [m.id for m in reversed(sent)][:20]


async def test_a_sparse_channels_newest_page_starts_wide_once_its_density_is_known(
    observed: tuple[cassandra_messages.CassandraMessageStore, ObservedSession],
) -> None:
    store, session = observed
    # Five messages in each of 12 buckets, every other bucket of 103..125.
    used = list(range(103, 127, 2))
    sent = [message_in_bucket(bucket, n) for bucket in used for n in range(5)]
    await send_all(store, sent)
    newest = used[::-1]
    session.clear()

    first = await store.list(world.GENERAL, limit=50)
    assert session.rounds() == [newest[0:2], newest[2:6], newest[6:10]]
    session.clear()

    again = await store.list(world.GENERAL, limit=50)
    # 5 rows per bucket: the 50 take 10 buckets, read 4, 4, then the 2 still needed.
    assert session.rounds() == [newest[0:4], newest[4:8], newest[8:10]]
    assert [m.id for m in again] == [m.id for m in first] == [m.id for m in reversed(sent)][:50]


async def test_a_deep_page_counts_on_the_channels_known_density_past_a_thin_cursor_bucket(
    observed: tuple[cassandra_messages.CassandraMessageStore, ObservedSession],
) -> None:
    store, session = observed
    sent = [message_in_bucket(bucket, n) for bucket in (127, 128, 129, 130) for n in range(30)]
    await send_all(store, sent)
    await store.list(world.GENERAL, limit=20)  # the newest bucket alone fills a page
    cursor = sent[3 * 30 + 2]  # 2 messages below it in bucket 130
    session.clear()

    page = await store.list(world.GENERAL, before=cursor.id, limit=20)

    assert [m.id for m in page] == [m.id for m in reversed(sent[: 3 * 30 + 2])][:20]
    # The cursor's bucket holds 2 (alone, they would ask for 4 more buckets); the channel's
    # buckets held 20 or more: one bucket more.
    assert session.rounds() == [[130], [129]]


def test_densities_forget_the_channel_read_least_recently() -> None:
    densities = history.Densities(max_channels=2)
    densities.saw(1, rows=50, buckets=1)
    densities.saw(2, rows=10, buckets=2)
    densities.saw(1, rows=40, buckets=1)  # read again: now the most recent
    densities.saw(3, rows=3, buckets=1)
    assert [densities.get(channel) for channel in (1, 2, 3)] == [40, None, 3]
    densities.saw(4, rows=0, buckets=0)  # a page that read no bucket tells nothing
    assert densities.get(4) is None and densities.get(1) == 40
