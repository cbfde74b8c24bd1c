"""`ports.EventPublisher` on JetStream: a batch stored in order with many PubAcks in flight.

Every event after the first carries `Nats-Expected-Last-Msg-Id` = the previous event's id, and
JetStream stores it only while the last message in the stream is that event. So when one event
is not stored (refused, lost, or another writer got in between) every later event of the batch
is refused too: the stream never holds event k+1 without event k, however many PUBs are in
flight. They are all written in order on the one connection, so the batch costs about one
round trip instead of one per event. The first event carries no expectation: a call always
stores something while JetStream is up.

Why not `Nats-Expected-Last-Sequence` = S, S+1, ...: if another writer stores exactly one
message in the slot predicted for a refused event, the next event's prediction holds again and
it is stored without its predecessor. A message id names the predecessor itself.

JetStream answers a `Nats-Msg-Id` it has already stored with a duplicate PubAck before looking
at any expectation (tests/integration/events/test_ordered_publishing.py pins this), so a batch
re-sent after a crash passes as duplicates, and the first new event after them is stored if the
last duplicate is still the stream's last message, or else refused as a `PublishConflict`.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
from collections.abc import Sequence

from nats.aio import client as nats_client
from nats.aio import msg as nats_msg
from nats.js import api as js_api
from nats.js import errors as js_errors

from gochat import ports

MSG_ID_HEADER = js_api.Header.MSG_ID.value  # JetStream's de-duplication key
EXPECTED_LAST_MSG_ID_HEADER = js_api.Header.EXPECTED_LAST_MSG_ID.value
EXPECTED_STREAM_HEADER = js_api.Header.EXPECTED_STREAM.value
WRONG_LAST_MSG_ID = 10070  # JetStream's err_code when Nats-Expected-Last-Msg-Id does not hold
_NO_RESPONDERS = "503"


class JetStreamPublisher:
    """Publishes to `stream`; an event counts once its PubAck (or duplicate PubAck) is in.

    The header `Nats-Msg-Id` carries the event id, so a re-publish (after a crash between the
    ack and the outbox update, or by a new relay leader) is dropped by JetStream within the
    stream's duplicate window. The expected-stream header makes a subject captured by another
    stream an error instead of a silent misdelivery. `max_in_flight` bounds the PUBs awaiting
    their PubAck (1 publishes one event per round trip).
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

    async def publish_in_order(self, events: Sequence[ports.OutboundEvent]) -> ports.PublishOutcome:
        stored = 0
        in_flight: collections.deque[asyncio.Future[js_api.PubAck]] = collections.deque()
        stopped_sending: Exception | None = None
        try:
            for position, event in enumerate(events):
                if len(in_flight) == self._max_in_flight:
                    await self._acked(in_flight.popleft())
                    stored += 1
                previous = events[position - 1].msg_id if position else None
                try:
                    in_flight.append(await self._send(event, after=previous))
                except Exception as exc:
                    stopped_sending = exc  # not sent (too big, connection closed), nor the rest
                    break
            while in_flight:
                await self._acked(in_flight.popleft())
                stored += 1
        except Exception as exc:
            return ports.PublishOutcome(stored, _as_port_error(exc))
        finally:
            for ack in in_flight:  # refused by now or soon: nobody needs their answers
                ack.cancel()
        return ports.PublishOutcome(stored, stopped_sending and _as_port_error(stopped_sending))

    async def _send(
        self, event: ports.OutboundEvent, *, after: str | None
    ) -> asyncio.Future[js_api.PubAck]:
        headers = {
            **event.headers,
            MSG_ID_HEADER: event.msg_id,
            EXPECTED_STREAM_HEADER: self._stream,
        }
        if after is not None:
            headers[EXPECTED_LAST_MSG_ID_HEADER] = after
        reply, ack = await self._acks.expect()
        try:
            await self._client.publish(event.subject, event.payload, reply=reply, headers=headers)
        except BaseException:
            ack.cancel()
            raise
        return ack

    async def _acked(self, ack: asyncio.Future[js_api.PubAck]) -> js_api.PubAck:
        # Most PubAcks of a batch arrive together: taking a settled one must not cost an
        # event-loop turn, which wait_for does even for a done future (and a turn inside a
        # busy API process is long).
        if not ack.done():
            try:
                await asyncio.wait_for(ack, self._ack_timeout)
            except TimeoutError:
                raise TimeoutError(f"no PubAck within {self._ack_timeout} s") from None
        return ack.result()


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


def _as_port_error(exc: Exception) -> Exception:
    if isinstance(exc, js_errors.APIError) and exc.err_code == WRONG_LAST_MSG_ID:
        conflict = ports.PublishConflict(exc.description or "wrong last message id")
        conflict.__cause__ = exc
        return conflict
    return exc
