"""JetStreamPublisher.publish_in_order against a real nats-server: a batch goes out with many
PubAcks in flight, yet the stream never holds an event without the one before it. The first
tests pin the server behaviour the adapter relies on."""

from __future__ import annotations

import typing
import uuid
from collections.abc import AsyncIterator

import pytest
from nats.aio import client as nats_client
from nats.js import api as js_api
from nats.js import errors as js_errors

from gochat import ports
from gochat.adapters.nats import connection, publisher, stream
from tests.fixtures import servers
from tests.integration.events import pipeline

SUBJECT = "gochat.ev.guild.1.CHANNEL_PINS_UPDATE"
FOREIGN_SUBJECT = "gochat.ev.guild.999.CHANNEL_PINS_UPDATE"
MAX_MSG_SIZE = 1024


@pytest.fixture
async def stream_name(client: nats_client.Client) -> AsyncIterator[str]:
    name = f"TEST_{uuid.uuid4().hex[:12].upper()}"
    await pipeline.remove_streams_capturing_events(client)
    await stream.ensure_stream(
        client.jetstream(), name, limits=stream.StreamLimits(max_msg_size=MAX_MSG_SIZE)
    )
    try:
        yield name
    finally:
        await client.jetstream().delete_stream(name)


def event(number: int, *, size: int = 10) -> ports.OutboundEvent:
    return ports.OutboundEvent(subject=SUBJECT, payload=b"x" * size, msg_id=f"ev-{number}")


async def stored_ids(client: nats_client.Client, stream_name: str) -> list[str]:
    """The Nats-Msg-Id of every stored message in stream order ("" for none)."""
    messages = await pipeline.EventStream(stream_name, client).messages()
    return [(message.headers or {}).get(publisher.MSG_ID_HEADER, "") for message in messages]


async def test_jetstream_acknowledges_a_duplicate_before_checking_its_expected_last_msg_id(
    client: nats_client.Client, stream_name: str
) -> None:
    js = client.jetstream()
    msg_id, expect_last = publisher.MSG_ID_HEADER, publisher.EXPECTED_LAST_MSG_ID_HEADER
    await js.publish(SUBJECT, b"a", headers={msg_id: "a"})
    await js.publish(SUBJECT, b"b", headers={msg_id: "b"})

    again = await js.publish(SUBJECT, b"a", headers={msg_id: "a", expect_last: "not-b"})
    assert (again.duplicate, again.seq) == (True, 1)
    with pytest.raises(js_errors.APIError) as refused:
        await js.publish(SUBJECT, b"c", headers={msg_id: "c", expect_last: "a"})
    assert refused.value.err_code == publisher.WRONG_LAST_MSG_ID
    # A message without an id (a foreign writer) leaves no id to match: the next one is refused.
    await js.publish(FOREIGN_SUBJECT, b"f")
    with pytest.raises(js_errors.APIError):
        await js.publish(SUBJECT, b"c", headers={msg_id: "c", expect_last: "b"})
    assert await stored_ids(client, stream_name) == ["a", "b", ""]


async def test_predicted_sequences_would_not_do_a_foreign_message_fills_the_gap(
    client: nats_client.Client, stream_name: str
) -> None:
    # Why the adapter names the predecessor instead of predicting its sequence number.
    js = client.jetstream()
    expect_seq = js_api.Header.EXPECTED_LAST_SEQUENCE.value
    await js.publish(SUBJECT, b"a", headers={publisher.MSG_ID_HEADER: "a"})
    with pytest.raises(js_errors.APIError):  # "b", predicted at 2, is refused (too big)
        await js.publish(SUBJECT, b"b" * MAX_MSG_SIZE * 2, headers={expect_seq: "1"})
    await js.publish(FOREIGN_SUBJECT, b"f")  # lands at 2
    ack = await js.publish(SUBJECT, b"c", headers={expect_seq: "2"})
    assert ack.seq == 3  # stored without "b": the order is broken


@pytest.mark.parametrize("max_in_flight", [1, 7, 256])
async def test_a_batch_is_stored_once_in_order(
    client: nats_client.Client, stream_name: str, max_in_flight: int
) -> None:
    events_publisher = publisher.JetStreamPublisher(
        client, stream=stream_name, max_in_flight=max_in_flight
    )
    batch = [event(n) for n in range(300)]

    assert await events_publisher.publish_in_order(batch) == ports.PublishOutcome(300)
    assert await stored_ids(client, stream_name) == [e.msg_id for e in batch]


@pytest.mark.parametrize("max_in_flight", [1, 256])
async def test_an_event_the_stream_refuses_stops_the_batch_there(
    client: nats_client.Client, stream_name: str, max_in_flight: int
) -> None:
    events_publisher = publisher.JetStreamPublisher(
        client, stream=stream_name, max_in_flight=max_in_flight
    )
    batch = [event(n, size=MAX_MSG_SIZE * 2 if n == 4 else 10) for n in range(10)]

    outcome = await events_publisher.publish_in_order(batch)
    assert outcome.stored == 4
    assert isinstance(outcome.error, js_errors.APIError)
    assert not isinstance(outcome.error, ports.PublishConflict)
    assert await stored_ids(client, stream_name) == [e.msg_id for e in batch[:4]]


async def test_nothing_is_stored_after_a_gap_even_when_another_writer_fills_it(
    client: nats_client.Client, stream_name: str, nats_server: servers.NatsServer
) -> None:
    # Event 2 is refused; a foreign message lands where it would have been. With predicted
    # sequence numbers (Nats-Expected-Last-Sequence) event 3 would now be stored after a gap.
    foreign = await connection.connect(nats_server.url, name="test-foreign-writer")
    try:
        interleaving = pipeline.InterleavingClient(
            client, foreign=foreign, subject=FOREIGN_SUBJECT, every=4
        )
        events_publisher = publisher.JetStreamPublisher(
            typing.cast(nats_client.Client, interleaving), stream=stream_name
        )
        batch = [event(n, size=MAX_MSG_SIZE * 2 if n == 2 else 10) for n in range(6)]

        outcome = await events_publisher.publish_in_order(batch)
    finally:
        await foreign.close()
    assert outcome.stored == 2
    assert await stored_ids(client, stream_name) == ["ev-0", "ev-1", ""]


async def test_another_writer_in_between_is_a_conflict_and_a_retry_goes_on_from_there(
    client: nats_client.Client, stream_name: str, nats_server: servers.NatsServer
) -> None:
    foreign = await connection.connect(nats_server.url, name="test-foreign-writer")
    try:
        interleaving = pipeline.InterleavingClient(
            client, foreign=foreign, subject=FOREIGN_SUBJECT, every=6
        )
        events_publisher = publisher.JetStreamPublisher(
            typing.cast(nats_client.Client, interleaving), stream=stream_name
        )
        batch = [event(n) for n in range(20)]

        outcome = await events_publisher.publish_in_order(batch)
        assert outcome.stored == 5
        assert isinstance(outcome.error, ports.PublishConflict)
        interleaving.stop_interleaving()
        again = await events_publisher.publish_in_order(batch[5:])
    finally:
        await foreign.close()
    assert again == ports.PublishOutcome(15)
    ids = [e.msg_id for e in batch]
    assert interleaving.interleaved == 3  # before our PUBs 6, 12 and 18: all were sent
    assert await stored_ids(client, stream_name) == [*ids[:5], "", "", "", *ids[5:]]


async def test_a_batch_sent_again_after_lost_pubacks_is_stored_once(
    client: nats_client.Client, stream_name: str
) -> None:
    # The server stores the batch but the PubAcks come too late: the caller learns nothing.
    impatient = publisher.JetStreamPublisher(client, stream=stream_name, ack_timeout=1e-6)
    batch = [event(n) for n in range(50)]
    outcome = await impatient.publish_in_order(batch)
    assert outcome.stored == 0
    assert isinstance(outcome.error, TimeoutError)

    async def all_stored() -> bool:
        return len(await stored_ids(client, stream_name)) == len(batch)

    await pipeline.eventually(all_stored)

    events_publisher = publisher.JetStreamPublisher(client, stream=stream_name)
    more = [*batch, event(50), event(51)]
    assert await events_publisher.publish_in_order(more) == ports.PublishOutcome(52)
    assert await stored_ids(client, stream_name) == [e.msg_id for e in more]


async def test_a_duplicate_head_not_last_in_the_stream_is_a_conflict_then_progress(
    client: nats_client.Client, stream_name: str
) -> None:
    events_publisher = publisher.JetStreamPublisher(client, stream=stream_name)
    assert await events_publisher.publish_in_order([event(0), event(1)]) == ports.PublishOutcome(2)
    await client.jetstream().publish(FOREIGN_SUBJECT, b"f")

    outcome = await events_publisher.publish_in_order([event(1), event(2), event(3)])
    assert outcome.stored == 1  # the duplicate; event 2 expected it to be last
    assert isinstance(outcome.error, ports.PublishConflict)
    assert await events_publisher.publish_in_order([event(2), event(3)]) == ports.PublishOutcome(2)
    assert await stored_ids(client, stream_name) == ["ev-0", "ev-1", "", "ev-2", "ev-3"]


async def test_a_closed_connection_is_an_error_not_an_exception(
    nats_server: servers.NatsServer, stream_name: str
) -> None:
    closed = await connection.connect(nats_server.url, name="test-closed")
    events_publisher = publisher.JetStreamPublisher(closed, stream=stream_name)
    await closed.close()

    outcome = await events_publisher.publish_in_order([event(0)])
    assert outcome.stored == 0
    assert outcome.error is not None


def test_max_in_flight_must_be_positive(client: nats_client.Client) -> None:
    with pytest.raises(ValueError, match="max_in_flight"):
        publisher.JetStreamPublisher(client, stream="S", max_in_flight=0)
