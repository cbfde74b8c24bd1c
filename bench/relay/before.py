"""The JetStream adapter as it was before ordered batches (commit a20b262), behind the new port:
one `js.publish` per event, each waiting for its PubAck before the next is sent."""

from __future__ import annotations

from collections.abc import Sequence

from nats.aio import client as nats_client

from gochat import ports
from gochat.adapters.nats import publisher


class PublisherBeforeBatches:
    def __init__(
        self, client: nats_client.Client, *, stream: str, ack_timeout: float = 5.0
    ) -> None:
        self._js = client.jetstream(timeout=ack_timeout)
        self._stream, self._ack_timeout = stream, ack_timeout

    async def publish_in_order(self, events: Sequence[ports.OutboundEvent]) -> ports.PublishOutcome:
        for stored, event in enumerate(events):
            try:
                await self._js.publish(
                    event.subject,
                    event.payload,
                    timeout=self._ack_timeout,
                    stream=self._stream,
                    headers={**event.headers, publisher.MSG_ID_HEADER: event.msg_id},
                )
            except Exception as exc:  # as the old relay: stop at the first failure
                return ports.PublishOutcome(stored, exc)
        return ports.PublishOutcome(len(events))
