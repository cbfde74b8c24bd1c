"""`ports.EventPublisher` on JetStream: one message per event, acknowledged before it counts."""

from __future__ import annotations

from collections.abc import Mapping

from nats.aio import client as nats_client
from nats.js import api as js_api

MSG_ID_HEADER = js_api.Header.MSG_ID  # "Nats-Msg-Id": JetStream's de-duplication key


class JetStreamPublisher:
    """Publishes to `stream` and waits for its PubAck.

    The header `Nats-Msg-Id` carries the event id, so a re-publish (after a crash between the
    ack and the outbox update, or by a new relay leader) is dropped by JetStream within the
    stream's duplicate window. The expected-stream header makes a subject captured by another
    stream an error instead of a silent misdelivery.
    """

    def __init__(
        self, client: nats_client.Client, *, stream: str, ack_timeout: float = 5.0
    ) -> None:
        self._js = client.jetstream(timeout=ack_timeout)
        self._stream = stream
        self._ack_timeout = ack_timeout

    async def publish(
        self, *, subject: str, payload: bytes, msg_id: str, headers: Mapping[str, str]
    ) -> None:
        """Return once JetStream stored the message (or recognised it as a duplicate)."""
        await self._js.publish(
            subject,
            payload,
            timeout=self._ack_timeout,
            stream=self._stream,
            headers={**headers, MSG_ID_HEADER: msg_id},
        )
