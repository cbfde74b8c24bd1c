"""Helpers for the event-pipeline tests: read a stream back, write events the way services do
and remember what committed, compare the two."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from nats.aio import client as nats_client
from nats.js import api as js_api

from gochat import ports
from gochat.adapters.postgres import database, outbox, outbox_relay
from gochat.core import events, ids

RelayFactory = Callable[..., Awaitable[outbox_relay.OutboxRelay]]

# The publisher tests' streams refuse bigger messages, so a test can make one event too big.
MAX_MSG_SIZE = 1024


def subject_of(scope: int) -> str:
    return f"gochat.ev.guild.{scope}.CHANNEL_PINS_UPDATE"


def numbered_event(number: int, *, scope: int = 1, size: int = 10) -> ports.OutboundEvent:
    """Event `number` of guild `scope` (its scope_seq too), `size` bytes of payload."""
    return ports.OutboundEvent(
        subject=subject_of(scope),
        payload=b"x" * size,
        msg_id=f"ev-{number}",
        scope=f"guild:{scope}",
        scope_seq=number,
    )


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
    """The real publisher, slowed down by `delay` per event before each batch goes out: keeps
    a relay inside its batch for a while."""

    inner: ports.EventPublisher
    delay: float

    async def publish_per_scope(
        self, events: Sequence[ports.OutboundEvent]
    ) -> ports.PublishOutcome:
        await asyncio.sleep(self.delay * len(events))
        return await self.inner.publish_per_scope(events)


@dataclass
class HookedPublisher:
    """The real publisher, then `after` with each batch it was given: something happening
    between a batch's PubAcks and whatever the relay does next."""

    inner: ports.EventPublisher
    after: Callable[[Sequence[ports.OutboundEvent]], Awaitable[None]]

    async def publish_per_scope(
        self, events: Sequence[ports.OutboundEvent]
    ) -> ports.PublishOutcome:
        outcome = await self.inner.publish_per_scope(events)
        await self.after(events)
        return outcome


@dataclass
class EventStream:
    name: str
    client: nats_client.Client

    async def messages(self) -> list[js_api.RawStreamMsg]:
        """Every message stored, in stream order."""
        js = self.client.jetstream()
        info = await js.stream_info(self.name)
        if not info.state.messages:
            return []
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

    async def write(
        self, scope_id: int, *, count: int = 1, roll_back: bool = False, padding: int = 0
    ) -> None:
        """`padding` characters make each event that much bigger."""
        built: list[events.Event] = []
        try:
            async with self.db.transaction("write_events") as conn:
                n = await conn.fetchval(
                    "UPDATE scope_counters SET n = n + 1 WHERE scope_id = $1 RETURNING n", scope_id
                )
                built = [
                    self.event(scope_id, marker=n * 10 + i, padding=padding) for i in range(count)
                ]
                await outbox.append(conn, built)
                if roll_back:
                    raise _RollBack
        except _RollBack:
            self.rolled_back.update(event.id for event in built)
            return
        self.committed[scope_id].extend(int(event.data["message_id"]) for event in built)

    async def begin(self, scope_id: int, *, count: int = 1) -> HeldWrite:
        """Like `write`, but the transaction stays open until `commit()`: its rows have their
        seq (and hold the scope's lock) yet no reader sees them, a late commit on demand."""
        stack = contextlib.AsyncExitStack()
        conn = await stack.enter_async_context(self.db.transaction("held_write"))
        n = await conn.fetchval(
            "UPDATE scope_counters SET n = n + 1 WHERE scope_id = $1 RETURNING n", scope_id
        )
        built = [self.event(scope_id, marker=n * 10 + i) for i in range(count)]
        await outbox.append(conn, built)
        return HeldWrite(self, scope_id, built, stack)

    def event(self, scope_id: int, *, marker: int, padding: int = 0) -> events.Event:
        if padding:
            return events.build(
                "MESSAGE_REACTION_ADD",
                events.ReactionChanged(
                    message_id=marker, channel_id=scope_id, user_id=1, emoji="x" * padding
                ),
                event_id=self.snowflakes.next_id(),
                scope="guild",
                scope_id=scope_id,
                guild_id=scope_id,
            )
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


@dataclass
class HeldWrite:
    writers: Writers
    scope_id: int
    events: list[events.Event]
    _stack: contextlib.AsyncExitStack

    async def commit(self) -> None:
        await self._stack.aclose()
        self.writers.committed[self.scope_id].extend(
            int(event.data["message_id"]) for event in self.events
        )


def per_scope_markers(arrived: list[events.Event]) -> dict[int, list[int]]:
    markers: dict[int, list[int]] = {}
    for event in arrived:
        markers.setdefault(event.scope_id, []).append(int(event.data["message_id"]))
    return markers


def assert_exactly_once_in_commit_order(writers: Writers, arrived: list[events.Event]) -> None:
    ids = [event.id for event in arrived]
    assert len(ids) == len(set(ids)), "an event arrived twice"
    assert not writers.rolled_back & set(ids), "a rolled-back event was published"
    assert len(ids) == writers.total()
    arrived_markers = per_scope_markers(arrived)
    for scope_id, committed in writers.committed.items():
        # Markers grow with each scope's commit order (the counter row serializes its writers).
        got = arrived_markers.get(scope_id, [])
        assert got == sorted(committed), (
            f"scope {scope_id}: missing {sorted(set(committed) - set(got))}, "
            f"unexpected {sorted(set(got) - set(committed))}, arrived {got}"
        )


async def outbox_event_ids(db: database.Database) -> list[int]:
    """Every outbox row's event id, in seq order (the order the relay publishes in)."""
    rows = await db.fetch("outbox_ids", "SELECT event_id FROM outbox ORDER BY seq")
    return [int(row["event_id"]) for row in rows]


async def eventually(condition: Callable[[], Awaitable[bool]], *, within: float = 15) -> None:
    async with asyncio.timeout(within):
        while True:
            if await condition():
                return
            await asyncio.sleep(0.05)


class InterleavingClient:
    """A publisher's NATS client, except that before every `every`-th PUB of ours another
    connection stores a message without an id, after all our earlier PUBs: another writer
    getting in between two events of a batch, deterministically."""

    def __init__(
        self, inner: nats_client.Client, *, foreign: nats_client.Client, subject: str, every: int
    ) -> None:
        self._inner, self._foreign, self._subject = inner, foreign, subject
        self._every, self._sent = every, 0
        self.interleaved = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def stop_interleaving(self) -> None:
        self._every = 0

    async def publish(
        self,
        subject: str,
        payload: bytes = b"",
        reply: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        self._sent += 1
        if self._every and self._sent % self._every == 0:
            # Our earlier PUBs reach the stream first. nats-py writes a flush's PING straight
            # to the socket, ahead of PUBs still in its buffer: the second PING comes after.
            await self._inner.flush()
            await self._inner.flush()
            ack = await self._foreign.jetstream().publish(self._subject, b"{}")
            assert not ack.duplicate
            self.interleaved += 1
        await self._inner.publish(subject, payload, reply=reply, headers=headers)


async def wait_for(condition: Callable[[], bool], *, within: float = 15) -> None:
    """Until `condition()` holds (TimeoutError after `within` seconds)."""
    async with asyncio.timeout(within):
        while True:
            if condition():
                return
            await asyncio.sleep(0.02)
