"""The JetStream adapter as it was before per-scope publishing (commit 5ba998b), behind the new
port, for the benchmark only: every event after a batch's first carries
`Nats-Expected-Last-Msg-Id` = the previous event's id, up to 256 PubAcks in flight whatever the
scope. It is unsound (a batch read again with a late row can reorder a scope; see
apps/gochat/adapters/nats/publisher.py); the relay's drain time with it is the baseline."""

from __future__ import annotations

import asyncio
import collections
import itertools
from collections.abc import Sequence

from nats.aio import client as nats_client
from nats.aio import msg as nats_msg
from nats.js import api as js_api

from gochat import ports
from gochat.adapters.nats import publisher


class ChainedPublisher:
    def __init__(
        self, client: nats_client.Client, *, stream: str, max_in_flight: int = 256
    ) -> None:
        self._client, self._stream, self._max_in_flight = client, stream, max_in_flight
        self._acks = _FutureInbox(client)

    async def publish_per_scope(
        self, events: Sequence[ports.OutboundEvent]
    ) -> ports.PublishOutcome:
        stored = 0
        in_flight: collections.deque[asyncio.Future[js_api.PubAck]] = collections.deque()
        try:
            for position, event in enumerate(events):
                if len(in_flight) == self._max_in_flight:
                    await _acked(in_flight.popleft())
                    stored += 1
                headers = {
                    **event.headers,
                    publisher.MSG_ID_HEADER: event.msg_id,
                    publisher.EXPECTED_STREAM_HEADER: self._stream,
                }
                if position:
                    headers[publisher.EXPECTED_LAST_MSG_ID_HEADER] = events[position - 1].msg_id
                reply, ack = await self._acks.expect()
                await self._client.publish(
                    event.subject, event.payload, reply=reply, headers=headers
                )
                in_flight.append(ack)
            while in_flight:
                await _acked(in_flight.popleft())
                stored += 1
        except Exception as exc:
            return ports.PublishOutcome(frozenset(range(stored)), exc)
        finally:
            for ack in in_flight:
                ack.cancel()
        return ports.PublishOutcome(frozenset(range(len(events))))


async def _acked(ack: asyncio.Future[js_api.PubAck]) -> None:
    # As the old adapter: a settled PubAck is taken without an event-loop turn (wait_for
    # costs one even for a done future).
    if not ack.done():
        await asyncio.wait_for(ack, 5)
    ack.result()


class _FutureInbox:
    """The old adapter's PubAck inbox: a future per reply subject, resolved by the one
    wildcard subscription."""

    def __init__(self, client: nats_client.Client) -> None:
        self._client = client
        self._prefix: str | None = None
        self._tokens = itertools.count()
        self._waiting: dict[str, asyncio.Future[js_api.PubAck]] = {}

    async def expect(self) -> tuple[str, asyncio.Future[js_api.PubAck]]:
        if self._prefix is None:
            self._prefix = self._client.new_inbox()
            await self._client.subscribe(f"{self._prefix}.*", cb=self._on_reply)
        token = str(next(self._tokens))
        ack: asyncio.Future[js_api.PubAck] = asyncio.get_running_loop().create_future()
        self._waiting[token] = ack
        return f"{self._prefix}.{token}", ack

    async def _on_reply(self, msg: nats_msg.Msg) -> None:
        assert self._prefix is not None
        ack = self._waiting.pop(msg.subject[len(self._prefix) + 1 :], None)
        if ack is None or ack.done():
            return
        answer = publisher._answer(msg)
        if isinstance(answer, Exception):
            ack.set_exception(answer)
        else:
            ack.set_result(answer)
