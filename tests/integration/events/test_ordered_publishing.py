"""JetStreamPublisher.publish_per_scope against a real nats-server: a batch goes out with many
scopes in flight, yet the stream never holds an event of a scope before the scope's earlier
events. The first test pins the server behaviour that rules out a chain of expectations."""

from __future__ import annotations

import typing

import pytest
from nats.aio import client as nats_client
from nats.js import errors as js_errors

from gochat import ports
from gochat.adapters.nats import connection, publisher
from gochat.core import events
from tests.fixtures import servers
from tests.integration.events import pipeline
from tests.integration.events.pipeline import MAX_MSG_SIZE
from tests.integration.events.pipeline import numbered_event as event

SUBJECT = "gochat.ev.guild.1.CHANNEL_PINS_UPDATE"
FOREIGN_SUBJECT = "gochat.ev.guild.999.CHANNEL_PINS_UPDATE"


async def stored_ids(client: nats_client.Client, stream_name: str) -> list[str]:
    """The Nats-Msg-Id of every stored message in stream order ("" for none)."""
    messages = await pipeline.EventStream(stream_name, client).messages()
    return [(message.headers or {}).get(publisher.MSG_ID_HEADER, "") for message in messages]


async def test_jetstream_acknowledges_a_duplicate_before_checking_its_expected_last_msg_id(
    # Why the publisher waits for each scope's PubAck instead of chaining expectations.
    client: nats_client.Client,
    stream_name: str,
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


@pytest.mark.parametrize("max_in_flight", [1, 7, 256])
async def test_a_batch_is_stored_once_in_order(
    client: nats_client.Client, stream_name: str, max_in_flight: int
) -> None:
    events_publisher = publisher.JetStreamPublisher(
        client, stream=stream_name, max_in_flight=max_in_flight
    )
    batch = [event(n, scope=n % 5) for n in range(300)]

    outcome = await events_publisher.publish_per_scope(batch)
    assert outcome == ports.PublishOutcome(frozenset(range(300)))
    stored = await stored_ids(client, stream_name)
    assert sorted(stored) == sorted(e.msg_id for e in batch)
    for scope in range(5):
        of_scope = {e.msg_id for e in batch if e.scope == f"guild:{scope}"}
        assert [i for i in stored if i in of_scope] == [
            e.msg_id for e in batch if e.msg_id in of_scope
        ]


class CheckingClient:
    """A publisher's NATS client that, before each PUB, checks with another connection that the
    stream's last message on the event's subject (one subject per scope here) is the scope's
    previous event: nothing of a scope is sent before the one before it is stored."""

    def __init__(self, inner: nats_client.Client, *, reader: nats_client.Client, stream: str):
        self._inner, self._js, self._stream = inner, reader.jetstream(), stream
        self._previous: dict[str, str] = {}
        self.checked = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    async def publish(
        self,
        subject: str,
        payload: bytes = b"",
        reply: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        assert headers is not None
        previous = self._previous.get(subject)
        if previous is not None:
            last = await self._js.get_last_msg(self._stream, subject)
            assert (last.headers or {})[publisher.MSG_ID_HEADER] == previous
            self.checked += 1
        self._previous[subject] = headers[publisher.MSG_ID_HEADER]
        await self._inner.publish(subject, payload, reply=reply, headers=headers)


async def test_an_event_is_sent_only_once_the_one_before_it_in_its_scope_is_stored(
    client: nats_client.Client, stream_name: str, nats_server: servers.NatsServer
) -> None:
    reader = await connection.connect(nats_server.url, name="test-reader")
    try:
        checking = CheckingClient(client, reader=reader, stream=stream_name)
        events_publisher = publisher.JetStreamPublisher(
            typing.cast(nats_client.Client, checking), stream=stream_name
        )
        batch = [event(n, scope=n % 3) for n in range(30)]
        outcome = await events_publisher.publish_per_scope(batch)
    finally:
        await reader.close()
    assert outcome == ports.PublishOutcome(frozenset(range(30)))
    assert checking.checked == 27


@pytest.mark.parametrize("max_in_flight", [1, 256])
async def test_an_event_the_stream_refuses_stops_its_scope_and_no_other(
    client: nats_client.Client, stream_name: str, max_in_flight: int
) -> None:
    events_publisher = publisher.JetStreamPublisher(
        client, stream=stream_name, max_in_flight=max_in_flight
    )
    batch = [event(n, scope=n % 2, size=MAX_MSG_SIZE * 2 if n == 4 else 10) for n in range(10)]

    outcome = await events_publisher.publish_per_scope(batch)
    assert outcome.acked == {0, 2, 1, 3, 5, 7, 9}  # scope 0 stops at 4: 6 and 8 are not sent
    assert isinstance(outcome.error, js_errors.APIError)
    stored = await stored_ids(client, stream_name)
    assert sorted(stored) == sorted(f"ev-{n}" for n in outcome.acked)


async def test_a_batch_read_again_with_a_late_event_stores_it_before_its_scopes_later_ones(
    client: nats_client.Client, stream_name: str
) -> None:
    # The stream holds A B C of scope 2; X of scope 1 sorts between them but came late, D and
    # E of scope 1 follow it. A chain of expectations stored D and E before X.
    events_publisher = publisher.JetStreamPublisher(client, stream=stream_name)
    a, b, c = event(1, scope=2), event(3, scope=2), event(4, scope=2)
    x, d, e = event(2, scope=1), event(5, scope=1), event(6, scope=1)
    assert (await events_publisher.publish_per_scope([a, b, c])).error is None

    outcome = await events_publisher.publish_per_scope([a, x, b, c, d, e])
    assert outcome == ports.PublishOutcome(frozenset(range(6)), None, duplicates=3)
    assert await stored_ids(client, stream_name) == ["ev-1", "ev-3", "ev-4", "ev-2", "ev-5", "ev-6"]


async def test_a_foreign_writer_in_between_costs_nothing(
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
        outcome = await events_publisher.publish_per_scope(batch)
    finally:
        await foreign.close()
    assert outcome == ports.PublishOutcome(frozenset(range(20)))
    ids = [e.msg_id for e in batch]
    assert interleaving.interleaved == 3  # before our PUBs 6, 12 and 18
    assert await stored_ids(client, stream_name) == [
        *ids[:5], "", *ids[5:11], "", *ids[11:17], "", *ids[17:]
    ]  # fmt: skip


async def test_every_event_carries_its_scope_and_outbox_seq(
    client: nats_client.Client, stream_name: str
) -> None:
    events_publisher = publisher.JetStreamPublisher(client, stream=stream_name)
    await events_publisher.publish_per_scope([event(41, scope=7)])
    stored = await client.jetstream().get_msg(stream_name, 1)
    assert stored.headers is not None
    assert stored.headers[events.SCOPE_HEADER] == "guild:7"
    assert stored.headers[events.OUTBOX_SEQ_HEADER] == "41"
    assert publisher.EXPECTED_LAST_MSG_ID_HEADER not in stored.headers


async def test_a_batch_sent_again_after_lost_pubacks_is_stored_once(
    client: nats_client.Client, stream_name: str
) -> None:
    # The server stores the events but the PubAcks come too late: the caller learns nothing.
    impatient = publisher.JetStreamPublisher(client, stream=stream_name, ack_timeout=1e-6)
    batch = [event(n, scope=n % 50) for n in range(50)]  # one per scope: all sent at once
    outcome = await impatient.publish_per_scope(batch)
    assert outcome.acked == frozenset()
    assert isinstance(outcome.error, TimeoutError)

    async def all_stored() -> bool:
        return len(await stored_ids(client, stream_name)) == len(batch)

    await pipeline.eventually(all_stored)

    events_publisher = publisher.JetStreamPublisher(client, stream=stream_name)
    more = [*batch, event(50), event(51)]
    again = await events_publisher.publish_per_scope(more)
    assert again == ports.PublishOutcome(frozenset(range(52)), None, duplicates=50)
    assert sorted(await stored_ids(client, stream_name)) == sorted(e.msg_id for e in more)


async def test_a_closed_connection_is_an_error_not_an_exception(
    nats_server: servers.NatsServer, stream_name: str
) -> None:
    closed = await connection.connect(nats_server.url, name="test-closed")
    events_publisher = publisher.JetStreamPublisher(closed, stream=stream_name)
    await closed.close()

    outcome = await events_publisher.publish_per_scope([event(0)])
    assert outcome.acked == frozenset()
    assert outcome.error is not None


def test_max_in_flight_must_be_positive(client: nats_client.Client) -> None:
    with pytest.raises(ValueError, match="max_in_flight"):
        publisher.JetStreamPublisher(client, stream="S", max_in_flight=0)
