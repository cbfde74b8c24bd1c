"""Helpers for the search tests: message events built as the API builds them, published as the
outbox relay publishes them, and polling until the index shows what a test waits for."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nats.aio import client as nats_client

from gochat.core import config, events, ids, schemas

_ids = ids.SnowflakeGenerator(ids.default_worker_id())


def next_id() -> int:
    return _ids.next_id()


class EventsOut:
    """Publishes to the test's stream with `Nats-Msg-Id` = event id, as the relay does."""

    def __init__(self, client: nats_client.Client, stream: str) -> None:
        self.client = client
        self.js = client.jetstream()
        self.stream = stream

    async def send(self, *batch: events.Event) -> None:
        for event in batch:
            await self.raw(event.subject, event.model_dump_json().encode(), msg_id=str(event.id))

    async def raw(self, subject: str, data: bytes, *, msg_id: str | None = None) -> None:
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        await self.js.publish(subject, data, stream=self.stream, headers=headers)


@dataclass
class Chat:
    """One guild's messages and the events they produce."""

    guild_id: int = field(default_factory=next_id)
    author: schemas.User = field(
        default_factory=lambda: schemas.User(
            id=next_id(), username="alice", created_at=datetime.now(UTC)
        )
    )

    def message(
        self, content: str, *, channel_id: int, mention_ids: list[int] | None = None
    ) -> schemas.Message:
        return schemas.Message(
            id=next_id(),
            channel_id=channel_id,
            guild_id=self.guild_id,
            author=self.author,
            content=content,
            mention_ids=mention_ids or [],
            created_at=datetime.now(UTC),
        )

    def created(self, message: schemas.Message) -> events.Event:
        return self._event("MESSAGE_CREATE", message, message.channel_id)

    def edited(
        self, message: schemas.Message, content: str
    ) -> tuple[schemas.Message, events.Event]:
        edited = message.model_copy(update={"content": content, "edited_at": datetime.now(UTC)})
        return edited, self._event("MESSAGE_UPDATE", edited, message.channel_id)

    def deleted(self, message: schemas.Message) -> events.Event:
        payload = events.MessageDeleted(
            id=message.id, channel_id=message.channel_id, guild_id=self.guild_id
        )
        return self._event("MESSAGE_DELETE", payload, message.channel_id)

    def _event(self, event_type: str, payload: object, channel_id: int) -> events.Event:
        return events.build(
            event_type,
            payload,  # type: ignore[arg-type]
            event_id=next_id(),
            scope="guild",
            scope_id=self.guild_id,
            guild_id=self.guild_id,
            channel_id=channel_id,
        )


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float = 20.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.05)


@dataclass(frozen=True)
class DeadLetter:
    data: bytes
    headers: dict[str, str] | None


async def find_dead_letter(
    events_out: EventsOut, *, from_stream: str, within: float = 20.0
) -> DeadLetter:
    """The first dead letter taken from `from_stream` (the dead-letter stream is shared)."""
    from gochat.adapters.nats import indexer_consumer

    deadline = time.monotonic() + within
    while True:
        sub = await events_out.js.pull_subscribe(
            indexer_consumer.DEAD_LETTER_SUBJECT, stream=indexer_consumer.DEAD_LETTER_STREAM
        )
        try:
            messages = await sub.fetch(10_000, timeout=0.5)
        except TimeoutError:
            messages = []
        finally:
            await sub.unsubscribe()
        for message in messages:
            msg_id = (message.headers or {}).get("Nats-Msg-Id", "")
            if msg_id.startswith(f"{from_stream}:"):
                return DeadLetter(message.data, message.headers)
        if time.monotonic() > deadline:
            raise AssertionError(f"no dead letter from {from_stream} within {within}s")
        await asyncio.sleep(0.1)


def make_indexer_config(
    dsn: str, nats_url: str, stream_name: str, **overrides: Any
) -> config.IndexerConfig:
    values: dict[str, Any] = {
        "pg_dsn": dsn,
        "pg_pool_min": 0,
        "pg_pool_max": 4,
        "nats_url": nats_url,
        "nats_stream": stream_name,
        "consumer_name": f"indexer_{uuid.uuid4().hex[:8]}",
        "batch_size": 50,
        "max_deliveries": 3,
        "shutdown_grace_seconds": 10,
    }
    return config.IndexerConfig(**(values | overrides))
