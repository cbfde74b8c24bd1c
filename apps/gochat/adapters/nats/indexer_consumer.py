"""The search indexer's durable pull consumer on the domain-event stream, and its dead letters.

- Durable (`consumer_name`): the stream remembers what was acknowledged, so a restarted indexer
  continues where the last one stopped and a second replica shares the work.
- Filtered to the message subjects (`gochat.ev.{guild,dm}.*.MESSAGE_{CREATE,UPDATE,DELETE}`)
  and channel and guild deletions: the server never sends the indexer anything else.
- Explicit acks and `max_ack_pending = batch_size`: the server hands out at most one batch of
  unacknowledged work, which bounds memory and what a crash leaves to redeliver.
- No server-side `max_deliver`: the indexer counts attempts itself (`Delivery.deliveries`) and
  moves a message that keeps failing to the dead-letter subject, then terminates it, so a
  poison message never blocks the stream and is never silently dropped.
- Dead letters live in their own stream GOCHAT_DLQ (`gochat.dlq.>`, outside `gochat.ev.>`), with
  headers saying where the message came from and why it failed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta

from nats.aio import client as nats_client
from nats.aio import msg as nats_msg
from nats.js import api as js_api
from nats.js import errors as js_errors

log = logging.getLogger(__name__)

MESSAGE_TYPES = ("MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE")
FILTER_SUBJECTS = [
    *(f"gochat.ev.{scope}.*.{t}" for scope in ("guild", "dm") for t in MESSAGE_TYPES),
    # Deleting a channel or guild drops its messages without a MESSAGE_DELETE each.
    "gochat.ev.guild.*.CHANNEL_DELETE",
    "gochat.ev.dm.*.CHANNEL_DELETE",
    "gochat.ev.guild.*.GUILD_DELETE",
]
# After the first message of a batch, how long to wait for the rest of the burst.
LINGER_SECONDS = 0.005
DEAD_LETTER_STREAM = "GOCHAT_DLQ"
DEAD_LETTER_SUBJECT = "gochat.dlq.indexer"
DEAD_LETTER_MAX_AGE = timedelta(days=30)
# Headers on a dead letter: enough to find, replay or explain it.
HEADER_SUBJECT = "Gochat-Original-Subject"
HEADER_SEQUENCE = "Gochat-Original-Sequence"
HEADER_DELIVERIES = "Gochat-Deliveries"
HEADER_REASON = "Gochat-Dead-Letter-Reason"


@dataclass
class Delivery:
    """One message handed to the indexer; settle it exactly once (ack, nak or dead-letter)."""

    subject: str
    data: bytes
    stream_sequence: int
    deliveries: int  # 1 on first delivery
    pending: int  # matching messages in the stream not yet delivered to this consumer
    message: nats_msg.Msg
    consumer: IndexerConsumer

    async def ack(self) -> None:
        await self.message.ack()

    async def retry_later(self, delay: float) -> None:
        await self.message.nak(delay=delay)

    async def dead_letter(self, *, reason: str) -> None:
        """Store the message on the dead-letter subject, then stop its redelivery for good."""
        await self.consumer.publish_dead_letter(self, reason=reason)
        await self.message.term()


class IndexerConsumer:
    def __init__(
        self,
        client: nats_client.Client,
        *,
        stream: str,
        name: str,
        batch_size: int,
        ack_wait: float = 30.0,
    ) -> None:
        self._client = client
        self._js = client.jetstream()
        self._stream = stream
        self._name = name
        self._batch_size = batch_size
        self._ack_wait = ack_wait
        self._next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{name}"
        self._inbox = client.new_inbox()
        self._arrived: collections.deque[nats_msg.Msg] = collections.deque()
        self._signal = asyncio.Event()
        self._subscription: nats_client.Subscription | None = None

    async def start(self) -> None:
        """Create or update the durable consumer and the dead-letter stream; subscribe."""
        await self._ensure_dead_letter_stream()
        await self._js.add_consumer(
            self._stream,
            js_api.ConsumerConfig(
                name=self._name,
                durable_name=self._name,
                description="GoChat search indexer",
                deliver_policy=js_api.DeliverPolicy.ALL,
                ack_policy=js_api.AckPolicy.EXPLICIT,
                ack_wait=self._ack_wait,
                max_ack_pending=self._batch_size,
                filter_subjects=FILTER_SUBJECTS,
            ),
        )
        self._subscription = await self._client.subscribe(self._inbox, cb=self._arrive)

    async def fetch(self, *, wait: float) -> list[Delivery]:
        """Up to one batch: waits up to `wait` seconds for the first message, then returns what
        the server had ready. Empty when nothing arrived.

        One pull request per batch with `no_wait` and `expires`: the server holds it until at
        least one message is available, sends what it has (up to the batch), then a
        "404 No Messages" that ends the batch. (nats-py's `fetch` spends a timer and a task per
        message; this costs one of each per batch, which doubled indexing throughput.)
        """
        if self._subscription is None:
            raise RuntimeError("IndexerConsumer.start() was not called")
        request = {"batch": self._batch_size, "no_wait": True, "expires": int(wait * 1e9)}
        await self._client.publish(
            self._next_subject, json.dumps(request).encode(), reply=self._inbox
        )
        # The server ends the request itself after `wait`; the margin covers a lost connection.
        deadline = asyncio.get_running_loop().time() + wait + 2.0
        batch: list[Delivery] = []
        while True:
            while self._arrived:
                message = self._arrived.popleft()
                status = (message.headers or {}).get("Status")
                if status is None:
                    batch.append(self._delivery(message))
                    if len(batch) >= self._batch_size:
                        return batch
                elif status != "100":  # 100: idle heartbeat; anything else ends the request
                    return batch
            self._signal.clear()
            remaining = deadline - asyncio.get_running_loop().time()
            if batch:
                # A request the server parked on max_ack_pending (another replica holds the
                # unacknowledged window) keeps waiting for a full batch instead of ending; do not
                # wait with it. What it sends later is picked up by the next fetch.
                remaining = min(remaining, LINGER_SECONDS)
            if remaining <= 0:
                return batch
            try:
                async with asyncio.timeout(remaining):
                    await self._signal.wait()
            except TimeoutError:
                return batch

    async def _arrive(self, message: nats_msg.Msg) -> None:
        self._arrived.append(message)
        self._signal.set()

    async def publish_dead_letter(self, delivery: Delivery, *, reason: str) -> None:
        await self._js.publish(
            DEAD_LETTER_SUBJECT,
            delivery.data,
            stream=DEAD_LETTER_STREAM,
            headers={
                # Publishing the same dead letter twice (a crash before `term`) stores it once.
                js_api.Header.MSG_ID: f"{self._stream}:{self._name}:{delivery.stream_sequence}",
                HEADER_SUBJECT: delivery.subject,
                HEADER_SEQUENCE: str(delivery.stream_sequence),
                HEADER_DELIVERIES: str(delivery.deliveries),
                HEADER_REASON: reason[:500],
            },
        )

    async def pending(self) -> int:
        """Messages in the stream this consumer has not been handed yet (the lag)."""
        info = await self._js.consumer_info(self._stream, self._name)
        return int(info.num_pending or 0)

    async def stop(self) -> None:
        """Stop pulling. Messages received but never handed out are given back at once, so
        another replica need not wait out the ack wait for them."""
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None
        while self._arrived:
            message = self._arrived.popleft()
            if message.reply and not (message.headers or {}).get("Status"):
                # Best effort: if the connection is gone, the ack wait gives it back instead.
                with contextlib.suppress(Exception):
                    await message.nak()

    def _delivery(self, message: nats_msg.Msg) -> Delivery:
        meta = message.metadata
        return Delivery(
            subject=message.subject,
            data=message.data,
            stream_sequence=meta.sequence.stream,
            deliveries=meta.num_delivered,
            pending=meta.num_pending,
            message=message,
            consumer=self,
        )

    async def _ensure_dead_letter_stream(self) -> None:
        try:
            await self._js.stream_info(DEAD_LETTER_STREAM)
            return
        except js_errors.NotFoundError:
            pass
        log.info("creating dead-letter stream", extra={"stream": DEAD_LETTER_STREAM})
        try:
            await self._js.add_stream(
                js_api.StreamConfig(
                    name=DEAD_LETTER_STREAM,
                    description="Messages GoChat consumers gave up on, kept for inspection",
                    subjects=["gochat.dlq.>"],
                    retention=js_api.RetentionPolicy.LIMITS,
                    storage=js_api.StorageType.FILE,
                    max_age=DEAD_LETTER_MAX_AGE.total_seconds(),
                    duplicate_window=300,
                )
            )
        except js_errors.BadRequestError:
            # Another replica created it in the meantime.
            await self._js.stream_info(DEAD_LETTER_STREAM)
