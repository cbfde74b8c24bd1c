"""The relay publishes whole batches with many scopes in flight and still never stores an event
before one committed ahead of it in its scope: not when JetStream refuses a row, not when
another writer shares the stream, not when it re-sends rows a crashed leader had already
stored."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio import client as nats_client

from gochat import ports
from gochat.adapters.nats import connection, publisher, stream
from gochat.adapters.postgres import database, outbox_relay
from gochat.core import events, metrics
from tests.fixtures import servers
from tests.integration.events import pipeline
from tests.integration.events.pipeline import RelayFactory

FOREIGN_SCOPE = 999_999
SMALL_MAX_MSG_SIZE = 1500


async def our_events(event_stream: pipeline.EventStream) -> list[events.Event]:
    """Events the relay stored, in stream order; messages of the foreign writer left out."""
    foreign = f".{FOREIGN_SCOPE}."
    return [
        events.parse(message.data or b"")
        for message in await event_stream.messages()
        if foreign not in (message.subject or "")
    ]


def failures() -> float:
    return float(metrics.OUTBOX_PUBLISH_FAILURES._value.get())


def duplicates() -> float:
    return float(outbox_relay.OUTBOX_DUPLICATE_ACKS._value.get())


async def test_a_row_the_stream_refuses_holds_back_the_later_rows_of_its_scope_only(
    make_relay: RelayFactory,
    writers: pipeline.Writers,
    event_stream: pipeline.EventStream,
    db: database.Database,
) -> None:
    js = event_stream.client.jetstream()
    small = stream.StreamLimits(max_msg_size=SMALL_MAX_MSG_SIZE)
    await stream.ensure_stream(js, event_stream.name, limits=small)
    await writers.write(101, count=3)
    await writers.write(202, count=2)
    await writers.write(303, padding=SMALL_MAX_MSG_SIZE * 2)  # refused: over max_msg_size
    await writers.write(101, count=3)
    await writers.write(303, count=2)  # held back behind it
    await writers.write(404, count=2)
    failures_before = failures()
    outbox_ids = await pipeline.outbox_event_ids(db)  # before the relay deletes what it stores
    held_back = set(outbox_ids[5:6] + outbox_ids[9:11])

    relay = await make_relay()

    async def retried_three_times() -> bool:
        return failures() >= failures_before + 3

    await pipeline.eventually(retried_three_times)  # it keeps retrying that row
    assert {e.id for e in await our_events(event_stream)} == set(outbox_ids) - held_back
    assert (await relay.lag()).unpublished == 3

    # As documented: an operator raises the limit (or removes the row) and the rest follows.
    await stream.ensure_stream(js, event_stream.name)
    await event_stream.wait_until_published(relay, expected=writers.total())
    pipeline.assert_exactly_once_in_commit_order(writers, await our_events(event_stream))


async def test_a_foreign_writer_during_a_large_drain_costs_nothing(
    make_relay: RelayFactory,
    writers: pipeline.Writers,
    event_stream: pipeline.EventStream,
    nats_server: servers.NatsServer,
    db: database.Database,
) -> None:
    await writers.write_concurrently(writers=8, transactions=200)  # about 3,200 events
    outbox_ids = await pipeline.outbox_event_ids(db)
    foreign = await connection.connect(nats_server.url, name="test-foreign-writer")
    subject = events.subject_for("guild", FOREIGN_SCOPE, "CHANNEL_PINS_UPDATE")
    sent_by_foreigner = 0
    drained = asyncio.Event()

    async def write_straight_to_jetstream() -> None:
        # Without waiting for PubAcks, so its messages arrive while the stream is still busy
        # with a batch of ours (a writer waiting for its acks would queue up behind the batch).
        nonlocal sent_by_foreigner
        while not drained.is_set():
            for _ in range(4):
                await foreign.publish(subject, b"{}")
            sent_by_foreigner += 4
            await asyncio.sleep(0.001)

    interleaving: list[pipeline.InterleavingClient] = []

    def interleave(client: nats_client.Client) -> pipeline.InterleavingClient:
        # Besides the free-running writer: one message in the middle of every batch for sure.
        interleaving.append(
            pipeline.InterleavingClient(client, foreign=foreign, subject=subject, every=200)
        )
        return interleaving[0]

    try:
        foreigner = asyncio.create_task(write_straight_to_jetstream())
        relay = await make_relay(batch_size=256, wrap_client=interleave)
        await event_stream.wait_until_published(relay, expected=writers.total(), within=120)
        drained.set()
        await foreigner
        await foreign.flush()
        await foreign.flush()  # see InterleavingClient: the second PING follows every PUB
    finally:
        drained.set()
        await foreign.close()

    arrived = await our_events(event_stream)
    pipeline.assert_exactly_once_in_commit_order(writers, arrived)
    assert sorted(e.id for e in arrived) == sorted(outbox_ids)
    info = await event_stream.client.jetstream().stream_info(event_stream.name)
    interleaved = interleaving[0].interleaved
    assert info.state.messages == writers.total() + sent_by_foreigner + interleaved
    assert interleaved >= 10


@pytest.mark.parametrize("foreign_message_after_them", [False, True])
async def test_rows_a_crashed_leader_stored_but_never_deleted_are_drained_without_copies(
    make_relay: RelayFactory,
    writers: pipeline.Writers,
    event_stream: pipeline.EventStream,
    nats_server: servers.NatsServer,
    db: database.Database,
    foreign_message_after_them: bool,
) -> None:
    await writers.write_concurrently(writers=4, transactions=50)  # about 400 events
    outbox_ids = await pipeline.outbox_event_ids(db)
    # The crashed leader had stored rows 0-199 and deleted rows 0-49 before it died.
    client = await connection.connect(nats_server.url, name="test-crashed-leader")
    try:
        rows = await db.fetch(
            "first_rows",
            "SELECT seq, event_id, subject, scope, payload, headers FROM outbox "
            "ORDER BY seq LIMIT 200",
        )
        crashed = publisher.JetStreamPublisher(client, stream=event_stream.name)
        outcome = await crashed.publish_per_scope([outbox_relay._outbound(row) for row in rows])
        assert outcome == ports.PublishOutcome(frozenset(range(200)))
        if foreign_message_after_them:
            subject = events.subject_for("guild", FOREIGN_SCOPE, "CHANNEL_PINS_UPDATE")
            await client.jetstream().publish(subject, b"{}")
    finally:
        await client.close()
    await db.fetch(
        "delete_first_rows",
        "DELETE FROM outbox WHERE seq = ANY($1::bigint[])",
        [row["seq"] for row in rows[:50]],
    )
    duplicates_before = duplicates()

    relay = await make_relay(batch_size=64)
    await event_stream.wait_until_published(relay, expected=writers.total())

    arrived = await our_events(event_stream)
    pipeline.assert_exactly_once_in_commit_order(writers, arrived)
    assert sorted(e.id for e in arrived) == sorted(outbox_ids)
    assert duplicates() - duplicates_before == 150  # rows 50-199: stored, not deleted


async def test_a_relay_publishing_one_event_per_round_trip_keeps_the_same_guarantees(
    make_relay: RelayFactory, writers: pipeline.Writers, event_stream: pipeline.EventStream
) -> None:
    relay = await make_relay(max_in_flight=1)
    await writers.write_concurrently(writers=4, transactions=30, roll_back_every=5)

    await event_stream.wait_until_published(relay, expected=writers.total())
    pipeline.assert_exactly_once_in_commit_order(writers, await event_stream.events())


def batches_published() -> float:
    return sum(
        sample.value
        for metric in outbox_relay.OUTBOX_BATCH_SECONDS.collect()
        for sample in metric.samples
        if sample.name.endswith("_count")
    )


async def test_rows_committed_in_a_burst_gather_into_one_batch(
    make_relay: RelayFactory,
    writers: pipeline.Writers,
    event_stream: pipeline.EventStream,
) -> None:
    relay = await make_relay(gather_seconds=0.5)
    await asyncio.sleep(0.2)  # idle: the relay waits for a NOTIFY
    before = batches_published()
    for n in range(10):  # ten commits 20 ms apart, each its own NOTIFY, inside the gather time
        await writers.write((101, 202, 303, 404)[n % 4])
        await asyncio.sleep(0.02)
    await event_stream.wait_until_published(relay, expected=writers.total())
    assert batches_published() - before <= 2  # not one batch per commit
    pipeline.assert_exactly_once_in_commit_order(writers, await our_events(event_stream))
