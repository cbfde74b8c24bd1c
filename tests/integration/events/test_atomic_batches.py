"""JetStreamPublisher's atomic batches against a real nats-server: a hot scope's run of events
goes out as one batch with one PubAck, stored all in order or not at all; a batch the stream
refuses (an event it holds already, one too big, atomic publish switched off) is sent again one
event at a time, with the same rules as ever."""

from __future__ import annotations

import typing

import pytest
from nats.aio import client as nats_client
from nats.js import errors as js_errors

from gochat import ports
from gochat.adapters.nats import publisher
from tests.integration.events import pipeline
from tests.integration.events.pipeline import MAX_MSG_SIZE
from tests.integration.events.pipeline import numbered_event as event


class CountingClient:
    """A publisher's NATS client that counts the PUBs asking for an answer (a PubAck)."""

    def __init__(self, inner: nats_client.Client) -> None:
        self._inner = inner
        self.answers_asked = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    async def publish(
        self,
        subject: str,
        payload: bytes = b"",
        reply: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.answers_asked += bool(reply)
        await self._inner.publish(subject, payload, reply=reply, headers=headers)


def batching(
    client: object,
    name: str,
    *,
    max_atomic_batches: int = publisher.ATOMIC_BATCHES_IN_FLIGHT,
    min_atomic_batch: int = 32,
    ack_timeout: float = 5.0,
) -> publisher.JetStreamPublisher:
    return publisher.JetStreamPublisher(
        typing.cast(nats_client.Client, client),
        stream=name,
        ack_timeout=ack_timeout,
        max_atomic_batches=max_atomic_batches,
        min_atomic_batch=min_atomic_batch,
    )


async def stored(client: nats_client.Client, name: str) -> list[tuple[str, str]]:
    """(Nats-Msg-Id, Nats-Batch-Id or "") of every stored message, in stream order."""
    messages = await pipeline.EventStream(name, client).messages()
    return [
        (
            (m.headers or {}).get(publisher.MSG_ID_HEADER, ""),
            (m.headers or {}).get(publisher.BATCH_ID_HEADER, ""),
        )
        for m in messages
    ]


async def test_a_hot_scopes_run_is_one_atomic_batch_with_one_puback(
    client: nats_client.Client, stream_name: str
) -> None:
    counting = CountingClient(client)
    events_publisher = batching(counting, stream_name)
    hot = [event(n) for n in range(100)]
    quiet = [event(100 + n, scope=2 + n) for n in range(3)]  # one event each: no batch

    outcome = await events_publisher.publish_per_scope([*hot[:50], *quiet, *hot[50:]])
    assert outcome == ports.PublishOutcome(frozenset(range(103)))
    assert counting.answers_asked == 1 + 3
    held = await stored(client, stream_name)
    of_hot = [(msg_id, batch) for msg_id, batch in held if msg_id in {e.msg_id for e in hot}]
    assert [msg_id for msg_id, _ in of_hot] == [e.msg_id for e in hot]
    assert len({batch for _, batch in of_hot}) == 1 and of_hot[0][1]
    assert all(not batch for msg_id, batch in held if msg_id in {e.msg_id for e in quiet})


async def test_a_run_shorter_than_min_atomic_batch_goes_one_event_at_a_time(
    client: nats_client.Client, stream_name: str
) -> None:
    counting = CountingClient(client)
    events_publisher = batching(counting, stream_name, min_atomic_batch=10)
    outcome = await events_publisher.publish_per_scope([event(n) for n in range(9)])
    assert outcome == ports.PublishOutcome(frozenset(range(9)))
    assert counting.answers_asked == 9
    assert await stored(client, stream_name) == [(f"ev-{n}", "") for n in range(9)]


async def test_a_batch_read_again_with_stored_events_and_a_late_one_keeps_the_scope_in_order(
    client: nats_client.Client, stream_name: str
) -> None:
    # The stream holds 0..39 of scope 1 (one batch whose rows were not deleted: a lost
    # PubAck, a cut session). Read again with the late 40 of scope 2 between them and 41, 42
    # of scope 1 after: the batch holding stored ids is refused whole and sent again one event
    # at a time, so the stored ones come back as duplicates and 41, 42 follow them.
    events_publisher = batching(client, stream_name, min_atomic_batch=2)
    first = [event(n) for n in range(40)]
    assert (await events_publisher.publish_per_scope(first)).error is None

    again = [*first[:20], event(40, scope=2), *first[20:], event(41), event(42)]
    outcome = await events_publisher.publish_per_scope(again)
    assert outcome == ports.PublishOutcome(frozenset(range(43)), None, duplicates=40)
    ids = [msg_id for msg_id, _ in await stored(client, stream_name)]
    assert ids == [f"ev-{n}" for n in range(40)] + ["ev-40", "ev-41", "ev-42"]


async def test_a_batch_whose_puback_never_came_stops_its_scope_and_is_stored_once_later(
    client: nats_client.Client, stream_name: str
) -> None:
    # The server stores the batch but its PubAck comes too late: the caller learns nothing.
    impatient = batching(client, stream_name, ack_timeout=1e-6, min_atomic_batch=2)
    run = [event(n) for n in range(40)]
    outcome = await impatient.publish_per_scope(run)
    assert outcome.acked == frozenset()
    assert isinstance(outcome.error, TimeoutError)

    async def all_stored() -> bool:
        return len(await stored(client, stream_name)) == len(run)

    await pipeline.eventually(all_stored)
    events_publisher = batching(client, stream_name, min_atomic_batch=2)
    again = await events_publisher.publish_per_scope([*run, event(40), event(41)])
    assert again == ports.PublishOutcome(frozenset(range(42)), None, duplicates=40)
    ids = [msg_id for msg_id, _ in await stored(client, stream_name)]
    assert ids == [f"ev-{n}" for n in range(42)]


async def test_an_event_the_stream_refuses_inside_a_batch_stops_only_the_events_after_it(
    client: nats_client.Client, stream_name: str
) -> None:
    events_publisher = batching(client, stream_name, min_atomic_batch=2)
    run = [event(n, size=MAX_MSG_SIZE * 2 if n == 10 else 10) for n in range(40)]
    others = [event(100 + n, scope=2) for n in range(5)]

    outcome = await events_publisher.publish_per_scope([*run, *others])
    assert outcome.acked == {*range(10), *range(40, 45)}
    assert isinstance(outcome.error, js_errors.APIError)
    ids = [msg_id for msg_id, _ in await stored(client, stream_name)]
    assert sorted(ids) == sorted(f"ev-{n}" for n in (*range(10), *range(100, 105)))
    assert [i for i in ids if int(i[3:]) < 100] == [f"ev-{n}" for n in range(10)]


async def test_atomic_publish_switched_off_under_the_publisher_falls_back_to_one_at_a_time(
    client: nats_client.Client, stream_name: str
) -> None:
    js = client.jetstream()
    config = (await js.stream_info(stream_name)).config
    config.allow_atomic = False
    await js.update_stream(config)
    events_publisher = batching(client, stream_name, min_atomic_batch=2)

    outcome = await events_publisher.publish_per_scope([event(n) for n in range(40)])
    assert outcome == ports.PublishOutcome(frozenset(range(40)))
    assert await stored(client, stream_name) == [(f"ev-{n}", "") for n in range(40)]
    assert events_publisher._max_atomic_batches == 0  # no batch is tried again


async def test_batches_beyond_max_atomic_batches_wait_their_turn_or_go_singly(
    client: nats_client.Client, stream_name: str
) -> None:
    events_publisher = batching(client, stream_name, max_atomic_batches=1, min_atomic_batch=2)
    batch = [event(n, scope=n % 5) for n in range(200)]

    outcome = await events_publisher.publish_per_scope(batch)
    assert outcome == ports.PublishOutcome(frozenset(range(200)))
    ids = [msg_id for msg_id, _ in await stored(client, stream_name)]
    for scope in range(5):
        of_scope = [e.msg_id for e in batch if e.scope == f"guild:{scope}"]
        assert [i for i in ids if i in set(of_scope)] == of_scope


def test_max_atomic_batches_stays_below_the_servers_limit(client: nats_client.Client) -> None:
    with pytest.raises(ValueError, match="max_atomic_batches"):
        publisher.JetStreamPublisher(client, stream="S", max_atomic_batches=50)
    with pytest.raises(ValueError, match="min_atomic_batch"):
        publisher.JetStreamPublisher(client, stream="S", min_atomic_batch=1)
