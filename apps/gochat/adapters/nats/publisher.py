"""`ports.EventPublisher` on JetStream: a batch stored in order within each scope, many scopes
in flight at once.

Within a scope a unit is sent only after JetStream answered the scope's previous unit with a
PubAck, stored or duplicate (one unit in flight per scope); across scopes up to `max_in_flight`
units are in flight together, all written on the one connection, so a batch over many scopes
costs about one round trip per unit of its busiest scope. A unit is one event, or, for a scope
with at least `min_atomic_batch` events in the batch, all of them (up to 1,000) as one
JetStream atomic batch (ADR-50; nats-server 2.12+, a stream with `allow_atomic`): the server
stores the run all in order or none of it and answers the commit with one PubAck. A scope's
next unit is sent from the PubAck handler of the one before it, in the task that reads the
PubAcks, which saves event-loop turns per round trip (bench/relay/FINDINGS.md). When a unit
fails (refused, no PubAck in time, disconnected) the later events of its scope stay unsent and
the other scopes go on: the caller (the outbox relay) deletes what was acknowledged and reads
again from PostgreSQL.

No expectation header chains the events. JetStream answers a `Nats-Msg-Id` it already holds as
a duplicate before it checks any `Nats-Expected-Last-*` header
(tests/integration/events/test_ordered_publishing.py pins this), so a chain through a batch
read again (some rows already stored, one committed late between them) let an event of the
late row's scope be stored before it. Waiting for the PubAck itself is sound whatever
duplicates, late commits and a second relay do: a scope's event goes out only when every
earlier event of the scope is in the stream (acknowledged now, or deleted from the outbox after
an earlier acknowledgement). An atomic batch keeps that rule: it goes out under the same
condition, and its events are stored in order, contiguously for the scope, or not at all. A
batch JetStream refuses stored nothing, so its events are sent again one at a time in the same
call: the usual case is a batch read again after a lost PubAck, which holds ids the stream has
already (refused whole, err_code 10201); one at a time those come back as duplicates, and an
event refused for good stops only the events after it. A batch whose PubAck never comes may
be stored: its scope stops like an event's, and the next read sends it again.

Why a threshold and a cap. On a file-backed stream a batch's commit cost about 15 ms here
whatever its size (against 0.3 ms for one event's PubAck on an idle loop): worth it for a hot
scope's run, not for the few events per scope of a batch spread over many guilds; and the
commits of one connection are applied one after another. nats-server holds at most 50
uncommitted batches per stream (`jetstream.limits.batch.max_inflight_per_stream`):
`max_atomic_batches` (16 in the API) keeps two overlapping relays well below it, and a scope
that finds no free batch slot sends its next event alone. The stream must say `allow_atomic`
before anyone batches: a server before 2.12 ignores the batch headers and would store a
batch's events one by one, unchecked, so the API passes max_atomic_batches 0 unless the
stream reports it (api/background.py).

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
import uuid
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
# Atomic batch publish (ADR-50, nats-server 2.12+, a stream with allow_atomic).
BATCH_ID_HEADER = "Nats-Batch-Id"
BATCH_SEQUENCE_HEADER = "Nats-Batch-Sequence"
BATCH_COMMIT_HEADER = "Nats-Batch-Commit"
ATOMIC_DISABLED = 10174  # err_code: the stream does not allow atomic batches (any more)
MAX_ATOMIC_BATCH = 1000  # the server's default jetstream.limits.batch.max_msgs
# The server holds at most 50 uncommitted batches per stream; two relays overlapping stay below.
ATOMIC_BATCHES_IN_FLIGHT = 16
_NO_RESPONDERS = "503"


class JetStreamPublisher:
    """Publishes to `stream`; an event counts once its PubAck (or duplicate PubAck) is in.

    The header `Nats-Msg-Id` carries the event id, so a re-publish (after a crash between the
    ack and the outbox DELETE, or by a new relay leader) is dropped by JetStream within the
    stream's duplicate window. `max_in_flight` bounds the units (an event, or an atomic batch
    of one scope's events) awaiting their PubAck across scopes (1 publishes one unit per round
    trip); within a scope it is always one. `max_atomic_batches` bounds the atomic batches
    among them (0: never batch; at most 40, see the module docstring); a scope's run becomes a
    batch from `min_atomic_batch` events on.
    """

    def __init__(
        self,
        client: nats_client.Client,
        *,
        stream: str,
        ack_timeout: float = 5.0,
        max_in_flight: int = 256,
        max_atomic_batches: int = 0,
        min_atomic_batch: int = 32,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        if not 0 <= max_atomic_batches <= 40:
            raise ValueError(f"max_atomic_batches must be 0 to 40, got {max_atomic_batches}")
        if not 2 <= min_atomic_batch <= MAX_ATOMIC_BATCH:
            raise ValueError(
                f"min_atomic_batch must be 2 to {MAX_ATOMIC_BATCH}, got {min_atomic_batch}"
            )
        self._client, self._stream = client, stream
        self._ack_timeout, self._max_in_flight = ack_timeout, max_in_flight
        self._max_atomic_batches, self._min_atomic_batch = max_atomic_batches, min_atomic_batch
        self._acks = _AckInbox(client)

    async def publish_per_scope(
        self, events: Sequence[ports.OutboundEvent]
    ) -> ports.PublishOutcome:
        return await _Run(self, events).publish()

    async def _publish(self, event: ports.OutboundEvent, *, reply: str) -> None:
        headers = self._headers(event)
        await self._client.publish(event.subject, event.payload, reply=reply, headers=headers)

    async def _publish_atomic(self, batch: Sequence[ports.OutboundEvent], *, reply: str) -> None:
        """One atomic batch: stored all in this order, or none; only the commit (the last
        event) asks for an answer. A batch cut short (a connection lost, an event too big for
        the client) is never committed, and the server drops it after its batch timeout."""
        batch_id = uuid.uuid4().hex
        for number, event in enumerate(batch, start=1):
            headers = self._headers(event)
            headers[BATCH_ID_HEADER] = batch_id
            headers[BATCH_SEQUENCE_HEADER] = str(number)
            last = number == len(batch)
            if last:
                headers[BATCH_COMMIT_HEADER] = "1"
            await self._client.publish(
                event.subject, event.payload, reply=reply if last else "", headers=headers
            )

    def _headers(self, event: ports.OutboundEvent) -> dict[str, str]:
        headers = {
            **event.headers,
            MSG_ID_HEADER: event.msg_id,
            EXPECTED_STREAM_HEADER: self._stream,
            domain_events.SCOPE_HEADER: event.scope,
        }
        if event.scope_seq is not None:
            headers[domain_events.OUTBOX_SEQ_HEADER] = str(event.scope_seq)
        return headers


class _Run:
    """One `publish_per_scope` call. A scope's next unit is sent by the PubAck handler of the
    one before it, in the task that reads the PubAcks: waking the caller's task first would
    cost an event-loop turn per unit, long inside a busy API process (bench/relay/). The
    caller's task sends the first unit of each scope, expires PubAcks that do not come, and
    returns once nothing is in flight."""

    def __init__(self, publisher: JetStreamPublisher, events: Sequence[ports.OutboundEvent]):
        self._publisher, self._events = publisher, events
        self._batch = _Batch(events)
        # token -> (positions, deadline); more than one position: an atomic batch
        self._in_flight: dict[str, tuple[list[int], float]] = {}
        self._batches_in_flight = 0
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
        publisher = self._publisher
        while self._batch.ready and len(self._in_flight) < publisher._max_in_flight:
            if self._closed:
                return
            may_batch = self._batches_in_flight < publisher._max_atomic_batches
            positions = self._batch.next_to_send(
                batch_from=publisher._min_atomic_batch if may_batch else None
            )
            token = None
            try:
                reply, token = await publisher._acks.expect(self._answered)
                deadline = time.monotonic() + publisher._ack_timeout
                self._in_flight[token] = (positions, deadline)
                if len(positions) == 1:
                    await publisher._publish(self._events[positions[0]], reply=reply)
                else:
                    self._batches_in_flight += 1
                    batch = [self._events[position] for position in positions]
                    await publisher._publish_atomic(batch, reply=reply)
            except Exception as exc:  # not sent (too big, connection closed)
                if token is None or self._in_flight.pop(token, None) is not None:
                    if token is not None:
                        publisher._acks.forget(token)
                    self._settle(positions, exc, refused=True)

    async def _answered(self, token: str, answer: js_api.PubAck | Exception) -> None:
        entry = None if self._closed else self._in_flight.pop(token, None)
        if entry is None:
            return  # expired, or the call is over
        positions, _ = entry
        batched = len(positions) > 1
        if batched and isinstance(answer, js_api.PubAck) and answer.batch_size != len(positions):
            answer = ValueError(f"atomic batch of {len(positions)} acked as {answer}")
        if isinstance(answer, Exception):
            refused = isinstance(answer, js_errors.APIError)
            if refused and getattr(answer, "err_code", None) == ATOMIC_DISABLED:
                self._publisher._max_atomic_batches = 0  # allow_atomic was switched off
            self._settle(positions, answer, refused=refused)
        else:
            if len(positions) > 1:
                self._batches_in_flight -= 1
            self._batch.acked(positions, duplicate=bool(answer.duplicate))
        await self._send_ready()
        if not self._in_flight or self._batch.ready:
            self._changed.set()

    def _settle(self, positions: list[int], error: Exception, *, refused: bool) -> None:
        """A unit that failed. An atomic batch that was refused, or never completely sent, has
        stored none of its events: its scope goes on one event at a time, so an event the
        stream already holds comes back as a duplicate and one it refuses stops only the
        events after it. A batch whose answer never came may be stored: its scope stops."""
        if len(positions) == 1:
            self._batch.failed(positions[0], error)
            return
        self._batches_in_flight -= 1
        if refused:
            self._batch.send_singly(positions)
        else:
            self._batch.failed(positions[0], error)

    def _expire(self) -> None:
        now = time.monotonic()
        timeout = self._publisher._ack_timeout
        for token, (positions, deadline) in list(self._in_flight.items()):
            if deadline > now:
                break
            del self._in_flight[token]
            self._publisher._acks.forget(token)
            self._settle(positions, TimeoutError(f"no PubAck within {timeout} s"), refused=False)


class _Batch:
    """Which events of each scope go next, and what came back."""

    def __init__(self, events: Sequence[ports.OutboundEvent]) -> None:
        self._waiting: dict[str, collections.deque[int]] = {}
        for position, event in enumerate(events):
            self._waiting.setdefault(event.scope, collections.deque()).append(position)
        self._scope_of = [event.scope for event in events]
        self.ready: collections.deque[str] = collections.deque(self._waiting)
        self._singly: set[str] = set()  # scopes whose atomic batch was refused
        self._acked: set[int] = set()
        self._duplicates = 0
        self._error: Exception | None = None

    def next_to_send(self, *, batch_from: int | None) -> list[int]:
        """The next unit of the scope first in line: its next event, or its next events (up
        to MAX_ATOMIC_BATCH) when at least `batch_from` wait (None: one event)."""
        scope = self.ready.popleft()
        waiting = self._waiting[scope]
        count = 1
        if batch_from is not None and scope not in self._singly and len(waiting) >= batch_from:
            count = min(MAX_ATOMIC_BATCH, len(waiting))
        return [waiting.popleft() for _ in range(count)]

    def acked(self, positions: list[int], *, duplicate: bool) -> None:
        self._acked.update(positions)
        self._duplicates += duplicate
        if self._waiting[self._scope_of[positions[0]]]:
            self.ready.append(self._scope_of[positions[0]])

    def send_singly(self, positions: list[int]) -> None:
        scope = self._scope_of[positions[0]]
        self._singly.add(scope)
        self._waiting[scope].extendleft(reversed(positions))
        self.ready.append(scope)

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
