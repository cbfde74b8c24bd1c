"""`ports.EventPublisher` on JetStream: a batch stored in order within each scope, many scopes
in flight at once.

Within a scope an event is sent only after JetStream answered the scope's previous event with a
PubAck, stored or duplicate (one in flight per scope); across scopes up to `max_in_flight`
events are in flight together, all written on the one connection, so a batch over many scopes
costs about one round trip per event of its busiest scope instead of one per event. A scope's
next event is sent from the PubAck handler of the one before it, in the task that reads the
PubAcks, which saves event-loop turns per round trip (bench/relay/FINDINGS.md). When an
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
from collections.abc import Awaitable, Callable, Sequence

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
        return await _Run(self, events).publish()

    async def _publish(self, event: ports.OutboundEvent, *, reply: str) -> None:
        headers = {
            **event.headers,
            MSG_ID_HEADER: event.msg_id,
            EXPECTED_STREAM_HEADER: self._stream,
            domain_events.SCOPE_HEADER: event.scope,
        }
        if event.scope_seq is not None:
            headers[domain_events.OUTBOX_SEQ_HEADER] = str(event.scope_seq)
        await self._client.publish(event.subject, event.payload, reply=reply, headers=headers)


class _Run:
    """One `publish_per_scope` call. A scope's next event is sent by the PubAck handler of the
    one before it, in the task that reads the PubAcks: waking the caller's task first would
    cost an event-loop turn per event, long inside a busy API process (bench/relay/). The
    caller's task sends the first event of each scope, expires PubAcks that do not come, and
    returns once nothing is in flight."""

    def __init__(self, publisher: JetStreamPublisher, events: Sequence[ports.OutboundEvent]):
        self._publisher, self._events = publisher, events
        self._batch = _Batch(events)
        self._in_flight: dict[str, tuple[int, float]] = {}  # token -> (position, deadline)
        self._changed = asyncio.Event()
        self._closed = False

    async def publish(self) -> ports.PublishOutcome:
        try:
            while True:
                self._changed.clear()
                await self._send_ready()
                if not self._in_flight:
                    return self._batch.outcome()
                # The oldest PUB has the nearest deadline (dicts keep insertion order).
                _, deadline = next(iter(self._in_flight.values()))
                try:
                    async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                        await self._changed.wait()
                except TimeoutError:
                    self._expire()
        finally:
            self._closed = True  # a PubAck that still comes changes nothing
            for token in self._in_flight:
                self._publisher._acks.forget(token)

    async def _send_ready(self) -> None:
        while (
            self._batch.ready
            and len(self._in_flight) < self._publisher._max_in_flight
            and not self._closed
        ):
            position = self._batch.next_to_send()
            token = None
            try:
                reply, token = await self._publisher._acks.expect(self._answered)
                deadline = time.monotonic() + self._publisher._ack_timeout
                self._in_flight[token] = (position, deadline)
                await self._publisher._publish(self._events[position], reply=reply)
            except Exception as exc:  # not sent (too big, connection closed)
                if token is None or self._in_flight.pop(token, None) is not None:
                    if token is not None:
                        self._publisher._acks.forget(token)
                    self._batch.failed(position, exc)

    async def _answered(self, token: str, answer: js_api.PubAck | Exception) -> None:
        entry = None if self._closed else self._in_flight.pop(token, None)
        if entry is None:
            return  # expired, or the call is over
        if isinstance(answer, Exception):
            self._batch.failed(entry[0], answer)
        else:
            self._batch.acked(entry[0], duplicate=bool(answer.duplicate))
            await self._send_ready()
        if not self._in_flight or self._batch.ready:
            self._changed.set()

    def _expire(self) -> None:
        now = time.monotonic()
        timeout = self._publisher._ack_timeout
        for token, (position, deadline) in list(self._in_flight.items()):
            if deadline > now:
                break
            del self._in_flight[token]
            self._publisher._acks.forget(token)
            self._batch.failed(position, TimeoutError(f"no PubAck within {timeout} s"))


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


Answered = Callable[[str, js_api.PubAck | Exception], Awaitable[None]]


class _AckInbox:
    """One wildcard subscription receives every PubAck of the publisher: the reply subject
    `<inbox>.<n>` names the handler waiting for it, which runs in the subscription's task."""

    def __init__(self, client: nats_client.Client) -> None:
        self._client = client
        self._prefix: str | None = None
        self._subscribing = asyncio.Lock()
        self._tokens = itertools.count()
        self._waiting: dict[str, Answered] = {}

    async def expect(self, handler: Answered) -> tuple[str, str]:
        """A reply subject and its token; `handler(token, PubAck or error)` runs once."""
        prefix = self._prefix or await self._subscribe()
        token = str(next(self._tokens))
        self._waiting[token] = handler
        return f"{prefix}.{token}", token

    def forget(self, token: str) -> None:
        self._waiting.pop(token, None)

    async def _subscribe(self) -> str:
        async with self._subscribing:
            if self._prefix is None:
                prefix = self._client.new_inbox()
                await self._client.subscribe(f"{prefix}.*", cb=self._on_reply)
                self._prefix = prefix
            return self._prefix

    async def _on_reply(self, msg: nats_msg.Msg) -> None:
        assert self._prefix is not None
        token = msg.subject[len(self._prefix) + 1 :]
        handler = self._waiting.pop(token, None)
        if handler is None:
            return  # given up on (timeout, the call is over)
        await handler(token, _answer(msg))


def _answer(msg: nats_msg.Msg) -> js_api.PubAck | Exception:
    if msg.headers and msg.headers.get(js_api.Header.STATUS.value) == _NO_RESPONDERS:
        return js_errors.NoStreamResponseError()
    try:
        answer = json.loads(msg.data)
        if "error" in answer:
            js_errors.APIError.from_error(answer["error"])  # raises the matching subclass
        return js_api.PubAck.from_response(answer)
    except (js_errors.APIError, ValueError, TypeError, KeyError) as exc:
        return exc
