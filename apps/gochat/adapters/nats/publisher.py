"""`ports.EventPublisher` on JetStream: a batch stored in order within each scope, many scopes
in flight at once.

Within a scope an event is sent only after JetStream answered the scope's previous event with a
PubAck, stored or duplicate (one in flight per scope); across scopes up to `max_in_flight`
events are in flight together, all written on the one connection, so a batch over many scopes
costs about one round trip per event of its busiest scope instead of one per event. When an
event fails (refused, no PubAck in time, disconnected) the later events of its scope stay
unsent and the other scopes go on: the caller (the outbox relay) deletes what was acknowledged
and reads again from PostgreSQL.

No expectation header chains the events. JetStream answers a `Nats-Msg-Id` it already holds as
a duplicate before it checks any `Nats-Expected-Last-*` header
(tests/integration/events/test_ordered_publishing.py pins this), so a chain through a batch
read again (some rows already stored, one committed late between them) let an event of the
late row's scope be stored before it. Waiting for the PubAck itself is sound whatever
duplicates, late commits and a second relay do: a scope's event goes out only when every
earlier event of the scope is in the stream (acknowledged now, or deleted from the outbox after
an earlier acknowledgement).

`Nats-Expected-Stream` stays: a subject captured by another stream is an error, not a silent
misdelivery. Every event carries `events.SCOPE_HEADER` and `events.OUTBOX_SEQ_HEADER`, with
which a consumer can drop a copy re-published after the duplicate window.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import time
from collections.abc import Sequence

from nats.aio import client as nats_client
from nats.aio import msg as nats_msg
from nats.js import api as js_api
from nats.js import errors as js_errors

from gochat import ports
from gochat.core import events as domain_events

MSG_ID_HEADER = js_api.Header.MSG_ID.value  # JetStream's de-duplication key
EXPECTED_LAST_MSG_ID_HEADER = js_api.Header.EXPECTED_LAST_MSG_ID.value  # not sent; tests pin why
EXPECTED_STREAM_HEADER = js_api.Header.EXPECTED_STREAM.value
WRONG_LAST_MSG_ID = 10070  # JetStream's err_code when Nats-Expected-Last-Msg-Id does not hold
_NO_RESPONDERS = "503"


class JetStreamPublisher:
    """Publishes to `stream`; an event counts once its PubAck (or duplicate PubAck) is in.

    The header `Nats-Msg-Id` carries the event id, so a re-publish (after a crash between the
    ack and the outbox DELETE, or by a new relay leader) is dropped by JetStream within the
    stream's duplicate window. `max_in_flight` bounds the PUBs awaiting their PubAck across
    scopes (1 publishes one event per round trip); within a scope it is always one.
    """

    def __init__(
        self,
        client: nats_client.Client,
        *,
        stream: str,
        ack_timeout: float = 5.0,
        max_in_flight: int = 256,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self._client, self._stream = client, stream
        self._ack_timeout, self._max_in_flight = ack_timeout, max_in_flight
        self._acks = _AckInbox(client)

    async def publish_per_scope(
        self, events: Sequence[ports.OutboundEvent]
    ) -> ports.PublishOutcome:
        batch = _Batch(events)
        in_flight: dict[asyncio.Future[js_api.PubAck], tuple[int, float]] = {}
        settled: collections.deque[asyncio.Future[js_api.PubAck]] = collections.deque()
        wake = asyncio.Event()

        def on_settled(ack: asyncio.Future[js_api.PubAck]) -> None:
            settled.append(ack)
            wake.set()

        try:
            while True:
                while batch.ready and len(in_flight) < self._max_in_flight:
                    position = batch.next_to_send()
                    try:
                        ack = await self._send(events[position])
                    except Exception as exc:  # not sent (too big, connection closed)
                        batch.failed(position, exc)
                        continue
                    ack.add_done_callback(on_settled)
                    in_flight[ack] = (position, time.monotonic() + self._ack_timeout)
                if not in_flight:
                    break
                if not settled:
                    # The oldest PUB has the nearest deadline (dicts keep insertion order).
                    _, deadline = next(iter(in_flight.values()))
                    wake.clear()
                    try:
                        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                            await wake.wait()
                    except TimeoutError:
                        _expire(in_flight, self._ack_timeout)
                        # Their callbacks run at the next turn: take them now.
                        settled.extend(ack for ack in in_flight if ack.done())
                # Taking settled acks costs no event-loop turn: most PubAcks of a batch come
                # together, and a turn inside a busy API process is long.
                while settled:
                    ack = settled.popleft()
                    entry = in_flight.pop(ack, None)
                    if entry is None:
                        continue
                    if ack.cancelled() or ack.exception() is not None:
                        batch.failed(entry[0], _error_of(ack))
                    else:
                        batch.acked(entry[0], duplicate=bool(ack.result().duplicate))
        finally:
            for ack in in_flight:  # not needed any more (stop, cancellation)
                ack.cancel()
        return batch.outcome()

    async def _send(self, event: ports.OutboundEvent) -> asyncio.Future[js_api.PubAck]:
        headers = {
            **event.headers,
            MSG_ID_HEADER: event.msg_id,
            EXPECTED_STREAM_HEADER: self._stream,
            domain_events.SCOPE_HEADER: event.scope,
        }
        if event.scope_seq is not None:
            headers[domain_events.OUTBOX_SEQ_HEADER] = str(event.scope_seq)
        reply, ack = await self._acks.expect()
        try:
            await self._client.publish(event.subject, event.payload, reply=reply, headers=headers)
        except BaseException:
            ack.cancel()
            raise
        return ack


class _Batch:
    """Which event of each scope goes next, and what came back."""

    def __init__(self, events: Sequence[ports.OutboundEvent]) -> None:
        self._waiting: dict[str, collections.deque[int]] = {}
        for position, event in enumerate(events):
            self._waiting.setdefault(event.scope, collections.deque()).append(position)
        self._scope_of = [event.scope for event in events]
        self.ready: collections.deque[str] = collections.deque(self._waiting)
        self._acked: set[int] = set()
        self._duplicates = 0
        self._error: Exception | None = None

    def next_to_send(self) -> int:
        return self._waiting[self.ready.popleft()].popleft()

    def acked(self, position: int, *, duplicate: bool) -> None:
        self._acked.add(position)
        self._duplicates += duplicate
        if self._waiting[self._scope_of[position]]:
            self.ready.append(self._scope_of[position])

    def failed(self, position: int, error: Exception) -> None:
        self._waiting[self._scope_of[position]].clear()  # the scope's later events wait
        if self._error is None:
            self._error = error

    def outcome(self) -> ports.PublishOutcome:
        return ports.PublishOutcome(frozenset(self._acked), self._error, self._duplicates)


def _expire(
    in_flight: dict[asyncio.Future[js_api.PubAck], tuple[int, float]], timeout: float
) -> None:
    now = time.monotonic()
    for ack, (_, deadline) in in_flight.items():
        if deadline > now:
            break
        if not ack.done():
            ack.set_exception(TimeoutError(f"no PubAck within {timeout} s"))


def _error_of(ack: asyncio.Future[js_api.PubAck]) -> Exception:
    if ack.cancelled():
        return ConnectionError("the PubAck was given up")
    error = ack.exception()
    assert isinstance(error, Exception)
    return error


class _AckInbox:
    """One wildcard subscription receives every PubAck of the publisher: the reply subject
    `<inbox>.<n>` names the future waiting for it."""

    def __init__(self, client: nats_client.Client) -> None:
        self._client = client
        self._prefix: str | None = None
        self._subscribing = asyncio.Lock()
        self._tokens = itertools.count()
        self._waiting: dict[str, asyncio.Future[js_api.PubAck]] = {}

    async def expect(self) -> tuple[str, asyncio.Future[js_api.PubAck]]:
        prefix = self._prefix or await self._subscribe()
        token = str(next(self._tokens))
        ack: asyncio.Future[js_api.PubAck] = asyncio.get_running_loop().create_future()
        self._waiting[token] = ack
        ack.add_done_callback(lambda _: self._waiting.pop(token, None))
        return f"{prefix}.{token}", ack

    async def _subscribe(self) -> str:
        async with self._subscribing:
            if self._prefix is None:
                prefix = self._client.new_inbox()
                await self._client.subscribe(f"{prefix}.*", cb=self._on_reply)
                self._prefix = prefix
            return self._prefix

    async def _on_reply(self, msg: nats_msg.Msg) -> None:
        assert self._prefix is not None
        ack = self._waiting.get(msg.subject[len(self._prefix) + 1 :])
        if ack is None or ack.done():
            return  # given up on (timeout, an earlier event failed)
        if msg.headers and msg.headers.get(js_api.Header.STATUS.value) == _NO_RESPONDERS:
            ack.set_exception(js_errors.NoStreamResponseError())
            return
        try:
            answer = json.loads(msg.data)
            if "error" in answer:
                js_errors.APIError.from_error(answer["error"])  # raises the matching subclass
            ack.set_result(js_api.PubAck.from_response(answer))
        except (js_errors.APIError, ValueError, TypeError, KeyError) as exc:
            ack.set_exception(exc)
