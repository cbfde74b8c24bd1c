"""The outbox relay publishes every committed event to JetStream exactly once, in commit order
per scope: across NATS outages, leader changes and rolled-back transactions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import asyncpg
from opentelemetry.sdk import trace as sdk_trace

from gochat import ports
from gochat.adapters.postgres import database, outbox, outbox_relay
from gochat.core import metrics
from tests.fixtures import servers
from tests.integration.events import pipeline
from tests.integration.events.pipeline import RelayFactory, wait_for


async def test_committed_events_reach_jetstream_once_in_commit_order_per_scope(
    make_relay: RelayFactory, writers: pipeline.Writers, event_stream: pipeline.EventStream
) -> None:
    relay = await make_relay()
    await writers.write_concurrently(writers=8, transactions=40, roll_back_every=7)

    await event_stream.wait_until_published(relay, expected=writers.total())
    pipeline.assert_exactly_once_in_commit_order(writers, await event_stream.events())


async def test_events_written_before_the_relay_starts_are_published_when_it_does(
    make_relay: RelayFactory, writers: pipeline.Writers, event_stream: pipeline.EventStream
) -> None:
    await writers.write_concurrently(writers=2, transactions=50)

    relay = await make_relay(batch_size=16)
    await event_stream.wait_until_published(relay, expected=writers.total())
    pipeline.assert_exactly_once_in_commit_order(writers, await event_stream.events())


async def test_a_rolled_back_transaction_publishes_nothing(
    make_relay: RelayFactory, writers: pipeline.Writers, event_stream: pipeline.EventStream
) -> None:
    relay = await make_relay()
    await writers.write(101, count=3, roll_back=True)
    await writers.write(101, count=1)

    await event_stream.wait_until_published(relay, expected=1)
    await asyncio.sleep(0.5)  # a wrongly published row would have arrived by now
    pipeline.assert_exactly_once_in_commit_order(writers, await event_stream.events())
    assert len(writers.rolled_back) == 3


async def test_every_event_arrives_once_and_in_order_when_nats_stops_during_the_writes(
    make_relay: RelayFactory,
    writers: pipeline.Writers,
    event_stream: pipeline.EventStream,
    nats_server: servers.NatsServer,
) -> None:
    relay = await make_relay()
    failures_before = metrics.OUTBOX_PUBLISH_FAILURES._value.get()
    done = asyncio.Event()
    written_during_outage = 0

    async def outage() -> None:
        nonlocal written_during_outage
        await asyncio.sleep(1)
        before = writers.total()
        await asyncio.to_thread(nats_server.stop)
        try:
            await asyncio.sleep(3)
        finally:
            await asyncio.to_thread(nats_server.start)
            written_during_outage = writers.total() - before
        await asyncio.sleep(2)
        done.set()

    await asyncio.gather(writers.write_until(done, writers=6), outage())

    await event_stream.wait_until_published(relay, expected=writers.total(), within=90)
    pipeline.assert_exactly_once_in_commit_order(writers, await event_stream.events())
    assert written_during_outage > 100
    assert metrics.OUTBOX_PUBLISH_FAILURES._value.get() > failures_before


async def test_one_of_two_relays_leads_and_the_other_takes_over_when_it_dies(
    make_relay: RelayFactory,
    writers: pipeline.Writers,
    event_stream: pipeline.EventStream,
    migrated_dsn: str,
) -> None:
    # Slowed down so the old leader is still publishing its batch when the new one starts; the
    # standby tries the lock every 20 ms, well before the old leader, which reconnects after a
    # back-off of 50 ms or more, can take it again.
    first = await make_relay(publish_delay=0.002, standby_poll_seconds=0.02)
    second = await make_relay(publish_delay=0.002, standby_poll_seconds=0.02)
    await wait_for(lambda: first.is_leader or second.is_leader)
    assert not (first.is_leader and second.is_leader)
    acks_before = published_acks()
    done = asyncio.Event()

    async def kill_the_leader() -> None:
        await asyncio.sleep(1)
        follower = second if first.is_leader else first
        # As when PostgreSQL notices a dead host: the session and its lock are gone at once,
        # while the old leader may still be publishing the batch it holds.
        assert await terminate_lock_holder(migrated_dsn) == 1
        await wait_for(lambda: follower.is_leader)
        await asyncio.sleep(1)
        done.set()

    await asyncio.gather(writers.write_until(done, writers=6), kill_the_leader())

    await event_stream.wait_until_published(first, expected=writers.total())
    pipeline.assert_exactly_once_in_commit_order(writers, await event_stream.events())
    assert [first.is_leader, second.is_leader].count(True) == 1
    # Some rows were published by both leaders (or again after the lost UPDATE): de-duplicated.
    assert published_acks() - acks_before > writers.total()


async def test_a_stopped_relay_hands_leadership_to_the_next(
    make_relay: RelayFactory, writers: pipeline.Writers, event_stream: pipeline.EventStream
) -> None:
    first = await make_relay()
    await wait_for(lambda: first.is_leader)
    second = await make_relay()
    await writers.write(202, count=2)
    await first.stop()

    await wait_for(lambda: second.is_leader)
    await writers.write(202, count=2)
    await event_stream.wait_until_published(second, expected=writers.total())
    pipeline.assert_exactly_once_in_commit_order(writers, await event_stream.events())


async def test_stop_during_a_nats_outage_returns_promptly_and_keeps_the_rows(
    make_relay: RelayFactory,
    writers: pipeline.Writers,
    event_stream: pipeline.EventStream,
    nats_server: servers.NatsServer,
) -> None:
    relay = await make_relay()
    await wait_for(lambda: relay.is_leader)
    await asyncio.to_thread(nats_server.stop)
    try:
        await writers.write(101, count=2)
        await asyncio.sleep(1)  # a failed attempt or two
        started = time.monotonic()
        await relay.stop()
        assert time.monotonic() - started < 3  # at most one PubAck timeout (2 s here)
        assert (await relay.lag()).unpublished == 2
    finally:
        await asyncio.to_thread(nats_server.start)

    successor = await make_relay()
    await event_stream.wait_until_published(successor, expected=2)
    pipeline.assert_exactly_once_in_commit_order(writers, await event_stream.events())


async def test_trace_context_travels_in_nats_headers(
    make_relay: RelayFactory, db: database.Database, event_stream: pipeline.EventStream
) -> None:
    tracer = sdk_trace.TracerProvider().get_tracer("test")
    writers = pipeline.Writers(db)
    await writers.add_scopes([505])
    with tracer.start_as_current_span("send message") as span:
        await writers.write(505)
        context = span.get_span_context()

    relay = await make_relay()
    await event_stream.wait_until_published(relay, expected=1)
    [message] = await event_stream.messages()
    assert message.headers is not None
    assert message.headers["traceparent"] == (
        f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    )
    [event] = await event_stream.events()
    assert message.headers["Nats-Msg-Id"] == str(event.id)


async def test_lag_reports_rows_waiting_for_publication(db: database.Database) -> None:
    writers = pipeline.Writers(db)
    await writers.add_scopes([606])
    await writers.write(606, count=3)
    await asyncio.sleep(0.2)
    relay = outbox_relay.OutboxRelay(
        dsn="postgresql://unused", database=db, publisher=_NeverCalled()
    )
    lag = await relay.lag()
    assert lag.unpublished == 3
    assert lag.oldest_age_seconds >= 0.2


async def test_published_rows_leave_the_outbox(
    make_relay: RelayFactory, writers: pipeline.Writers, event_stream: pipeline.EventStream
) -> None:
    relay = await make_relay()
    await writers.write_concurrently(writers=2, transactions=20)
    await event_stream.wait_until_published(relay, expected=writers.total())

    await wait_for_async(lambda: outbox_rows(writers.db), equals=0)


async def test_a_relay_that_dies_between_the_ack_and_the_delete_publishes_nothing_twice(
    make_relay: RelayFactory,
    writers: pipeline.Writers,
    event_stream: pipeline.EventStream,
    migrated_dsn: str,
) -> None:
    # Each batch's connection is cut right after its PubAcks: the DELETE never runs, the relay
    # reconnects and publishes the same rows again, and JetStream drops them by Nats-Msg-Id.
    cut = asyncio.Event()

    async def cut_once(batch: object) -> None:
        if not cut.is_set():
            cut.set()
            assert await terminate_relay_sessions(migrated_dsn) == 1

    relay = await make_relay(after_publish=cut_once)
    acks_before = published_acks()
    await writers.write_concurrently(writers=4, transactions=10)

    await event_stream.wait_until_published(relay, expected=writers.total())
    pipeline.assert_exactly_once_in_commit_order(writers, await event_stream.events())
    assert cut.is_set()
    assert published_acks() - acks_before > writers.total()  # some rows went out twice
    await wait_for_async(lambda: outbox_rows(writers.db), equals=0)


async def test_rows_an_older_relay_marked_published_are_deleted_unpublished(
    make_relay: RelayFactory, writers: pipeline.Writers, event_stream: pipeline.EventStream
) -> None:
    # A relay from before migration 0005 marks rows instead of deleting them.
    await writers.write(101, count=3)
    await writers.db.fetch("mark_published", "UPDATE outbox SET published_at = now()")

    relay = await make_relay(cleanup_every_seconds=0.1)
    await wait_for_async(lambda: outbox_rows(writers.db), equals=0)
    await writers.write(101, count=1)
    await event_stream.wait_until_published(relay, expected=1)
    assert len(await event_stream.messages()) == 1


async def test_new_events_wake_the_relay_before_its_poll(
    make_relay: RelayFactory, writers: pipeline.Writers, event_stream: pipeline.EventStream
) -> None:
    relay = await make_relay(poll_seconds=30)
    await wait_for(lambda: relay.is_leader)
    await asyncio.sleep(0.3)  # the relay is now idle, listening
    async with writers.db.transaction("one_event") as conn:
        await outbox.append(conn, [writers.event(101, marker=1)])
    await event_stream.wait_until_published(relay, expected=1, within=5)


async def test_a_steady_stream_is_drained_without_a_notification_per_event(
    make_relay: RelayFactory, writers: pipeline.Writers, event_stream: pipeline.EventStream
) -> None:
    # No poll to fall back on: a row the relay missed while not listening would wait 30 s.
    relay = await make_relay(poll_seconds=30)
    await wait_for(lambda: relay.is_leader)
    notified_before = notifications()
    done = asyncio.Event()

    async def stop_after_two_seconds() -> None:
        await asyncio.sleep(2)
        done.set()

    await asyncio.gather(
        writers.write_until(done, writers=6, pause=0.002), stop_after_two_seconds()
    )

    await event_stream.wait_until_published(relay, expected=writers.total(), within=10)
    pipeline.assert_exactly_once_in_commit_order(writers, await event_stream.events())
    assert notifications() - notified_before < writers.total() / 4


async def test_rows_committed_as_the_relay_stops_draining_are_not_left_waiting(
    make_relay: RelayFactory, writers: pipeline.Writers, event_stream: pipeline.EventStream
) -> None:
    # Gaps around the gather interval (5 ms) end a drain at every point of the relay's loop.
    relay = await make_relay(poll_seconds=30)
    await wait_for(lambda: relay.is_leader)
    for gap in [0, 0.001, 0.003, 0.005, 0.007, 0.01, 0.02, 0.05] * 4:
        await writers.write_concurrently(writers=3, transactions=1)
        await asyncio.sleep(gap)

    await event_stream.wait_until_published(relay, expected=writers.total(), within=10)
    pipeline.assert_exactly_once_in_commit_order(writers, await event_stream.events())


class _NeverCalled:
    async def publish_per_scope(self, batch: object) -> ports.PublishOutcome:
        raise AssertionError("nothing should be published")


async def outbox_rows(db: database.Database) -> int:
    row = await db.fetchrow("count_outbox", "SELECT count(*) AS n FROM outbox")
    assert row is not None
    return int(row["n"])


async def terminate_relay_sessions(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        killed: int = await conn.fetchval(
            """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
               WHERE application_name = 'gochat-outbox-relay'"""
        )
        return killed
    finally:
        await conn.close()


def notifications() -> float:
    return float(outbox_relay.OUTBOX_NOTIFICATIONS._value.get())


def published_acks() -> float:
    return float(metrics.EVENTS_PUBLISHED.labels("CHANNEL_PINS_UPDATE")._value.get())


async def terminate_lock_holder(dsn: str) -> int:
    key = outbox_relay.LEADER_LOCK_KEY
    conn = await asyncpg.connect(dsn)
    try:
        killed: int = await conn.fetchval(
            """SELECT count(pg_terminate_backend(pid)) FROM pg_locks
               WHERE locktype = 'advisory' AND granted AND objsubid = 1
                 AND classid::bigint = $1 AND objid::bigint = $2""",
            key >> 32,
            key & 0xFFFFFFFF,
        )
        return killed
    finally:
        await conn.close()


async def wait_for_async(
    probe: Callable[[], Awaitable[object]], *, equals: object, within: float = 15
) -> None:
    async with asyncio.timeout(within):
        while True:
            if await probe() == equals:
                return
            await asyncio.sleep(0.1)


async def test_the_oldest_unpublished_age_keeps_growing_while_publishing_fails(
    make_relay: RelayFactory, writers: pipeline.Writers
) -> None:
    # The gauge the duplicate-window alert reads must move during the very outage it is for.
    await writers.write(101)

    def refuse_everything(inner: ports.EventPublisher) -> ports.EventPublisher:
        return _Refusing()

    relay = await make_relay(wrap_publisher=refuse_everything)
    await wait_for(lambda: relay.is_leader)
    await wait_for(lambda: outbox_relay.OUTBOX_OLDEST_AGE._value.get() > 0, within=10)
    assert outbox_relay.OUTBOX_UNPUBLISHED._value.get() == 1

    await relay.stop()  # another replica measures now
    assert outbox_relay.OUTBOX_OLDEST_AGE._value.get() == 0


class _Refusing:
    async def publish_per_scope(self, batch: object) -> ports.PublishOutcome:
        return ports.PublishOutcome(frozenset(), ConnectionError("NATS is away"))
