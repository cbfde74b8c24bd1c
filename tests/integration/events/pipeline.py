"""Helpers for the event-pipeline tests: read a stream back, write events the way services do
and remember what committed, compare the two."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from nats.aio import client as nats_client
from nats.js import api as js_api

from gochat import ports
from gochat.adapters.postgres import database, outbox, outbox_relay
from gochat.core import events, ids

RelayFactory = Callable[..., Awaitable[outbox_relay.OutboxRelay]]


async def remove_streams_capturing_events(client: nats_client.Client) -> None:
    """The session's NATS is shared: another suite's stream may still capture gochat.ev.>, and
    two streams cannot capture the same subjects."""
    js = client.jetstream()
    for existing in await js.streams_info():
        name = existing.config.name
        if name and events.STREAM_SUBJECTS in (existing.config.subjects or []):
            await js.delete_stream(name)


@dataclass
class SlowPublisher:
    """The real publisher, slowed down: keeps a relay inside its batch for a while."""

    inner: ports.EventPublisher
    delay: float

    async def publish(
        self, *, subject: str, payload: bytes, msg_id: str, headers: dict[str, str]
    ) -> None:
        await asyncio.sleep(self.delay)
        await self.inner.publish(subject=subject, payload=payload, msg_id=msg_id, headers=headers)


@dataclass
class EventStream:
    name: str
    client: nats_client.Client

    async def messages(self) -> list[js_api.RawStreamMsg]:
        """Every message stored, in stream order."""
        js = self.client.jetstream()
        info = await js.stream_info(self.name)
        return [
            await js.get_msg(self.name, seq)
            for seq in range(info.state.first_seq, info.state.last_seq + 1)
        ]

    async def events(self) -> list[events.Event]:
        return [events.parse(message.data or b"") for message in await self.messages()]

    async def wait_until_published(
        self, relay: outbox_relay.OutboxRelay, *, expected: int, within: float = 60
    ) -> None:
        """Until no outbox row waits and the stream holds at least `expected` messages."""
        async with asyncio.timeout(within):
            while True:
                lag = await relay.lag()
                info = await self.client.jetstream().stream_info(self.name)
                if lag.unpublished == 0 and info.state.messages >= expected:
                    return
                await asyncio.sleep(0.1)


@dataclass
class Writers:
    """Transactions that each bump one scope's counter and append events carrying its value;
    `committed[scope]` lists the `message_id`s of committed events in commit order."""

    db: database.Database
    snowflakes: ids.SnowflakeGenerator = field(default_factory=lambda: ids.SnowflakeGenerator(7))
    committed: dict[int, list[int]] = field(default_factory=dict)
    rolled_back: set[int] = field(default_factory=set)  # event ids

    async def add_scopes(self, scope_ids: list[int]) -> None:
        async with self.db.transaction("add_scopes") as conn:
            await conn.executemany(
                "INSERT INTO scope_counters (scope_id) VALUES ($1)", [(s,) for s in scope_ids]
            )
        for scope_id in scope_ids:
            self.committed[scope_id] = []

    async def write(self, scope_id: int, *, count: int = 1, roll_back: bool = False) -> None:
        built: list[events.Event] = []
        try:
            async with self.db.transaction("write_events") as conn:
                n = await conn.fetchval(
                    "UPDATE scope_counters SET n = n + 1 WHERE scope_id = $1 RETURNING n", scope_id
                )
                built = [self.event(scope_id, marker=n * 10 + i) for i in range(count)]
                await outbox.append(conn, built)
                if roll_back:
                    raise _RollBack
        except _RollBack:
            self.rolled_back.update(event.id for event in built)
            return
        self.committed[scope_id].extend(int(event.data["message_id"]) for event in built)

    def event(self, scope_id: int, *, marker: int) -> events.Event:
        payload = events.PinsUpdated(channel_id=scope_id, message_id=marker, pinned=True)
        return events.build(
            "CHANNEL_PINS_UPDATE",
            payload,
            event_id=self.snowflakes.next_id(),
            scope="guild",
            scope_id=scope_id,
            guild_id=scope_id,
        )

    async def write_concurrently(
        self, *, writers: int, transactions: int, roll_back_every: int = 0
    ) -> None:
        scopes = list(self.committed)

        async def writer(number: int) -> None:
            for step in range(transactions):
                await self.write(
                    scopes[(number + step) % len(scopes)],
                    count=1 + step % 3,
                    roll_back=bool(roll_back_every) and step % roll_back_every == 0,
                )

        await asyncio.gather(*(writer(number) for number in range(writers)))

    async def write_until(self, done: asyncio.Event, *, writers: int, pause: float = 0.01) -> None:
        """Like `write_concurrently`, paced, until `done` is set: writes that span an incident."""
        scopes = list(self.committed)

        async def writer(number: int) -> None:
            step = 0
            while not done.is_set():
                await self.write(
                    scopes[(number + step) % len(scopes)],
                    count=1 + step % 3,
                    roll_back=step % 11 == 5,
                )
                step += 1
                await asyncio.sleep(pause)

        await asyncio.gather(*(writer(number) for number in range(writers)))

    def total(self) -> int:
        return sum(len(markers) for markers in self.committed.values())


class _RollBack(Exception):
    pass


def per_scope_markers(arrived: list[events.Event]) -> dict[int, list[int]]:
    markers: dict[int, list[int]] = {}
    for event in arrived:
        markers.setdefault(event.scope_id, []).append(int(event.data["message_id"]))
    return markers
