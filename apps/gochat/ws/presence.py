"""Presence: online / idle / dnd while a user has a connection anywhere, offline (with last-seen)
once their last connection on every gateway has been gone for `presence_grace_seconds`.

Each gateway counts its own connections per user and records, in the user's shared presence
record, that it holds some (adapters/nats/presence.py); a change of what others see is broadcast
as a PRESENCE_UPDATE event, naming its guild, to each guild the user is a member of when the
change is announced (read from PostgreSQL then, so joins and kicks count at once, as they do for
messages), through the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Generic, TypeVar

from gochat.adapters.nats import gateway_events
from gochat.adapters.nats import presence as presence_store
from gochat.core import events, ids

log = logging.getLogger(__name__)
# Above this many members a guild gets no presence broadcasts (each change would go to every
# member: quadratic); its clients ask with REQUEST_GUILD_MEMBERS, whose chunks carry presences.
LARGE_GUILD_MEMBERS = 250
GUILD_SIZE_CACHE_SECONDS = 60.0
GuildSize = Callable[[int], Awaitable[int]]
GuildsOf = Callable[[int], Awaitable[Iterable[int]]]  # a user's guild ids, as committed now
STORE_CONCURRENCY = 32
# How long a gateway's lease, once read, is taken as it was: a gateway that died keeps its
# users present for up to its lease TTL plus this.
LEASE_CACHE_SECONDS = 5.0


K = TypeVar("K")
V = TypeVar("V")


class Remembered(Generic[K, V]):
    """Values loaded on demand and kept for a while; cleared whole when `capacity` is reached
    (a few stale reloads are cheaper than an eviction order)."""

    def __init__(self, *, capacity: int) -> None:
        self._capacity = capacity
        self._values: dict[K, tuple[float, V]] = {}

    async def get(self, key: K, *, seconds: float, load: Callable[[K], Awaitable[V]]) -> V:
        now = time.monotonic()
        cached = self._values.get(key)
        if cached is None or now - cached[0] > seconds:
            if len(self._values) >= self._capacity:
                self._values.clear()
            cached = self._values[key] = (now, await load(key))
        return cached[1]


class PresenceTracker:
    def __init__(
        self,
        *,
        store: presence_store.PresenceStore,
        feed: gateway_events.EventFeed,
        id_source: ids.SnowflakeGenerator,
        gateway_id: str,
        grace_seconds: float,
        guild_size: GuildSize,
        guilds_of: GuildsOf,
    ) -> None:
        self._store = store
        self._feed = feed
        self._ids = id_source
        self.gateway_id = gateway_id
        self._grace = grace_seconds
        self._connections: dict[int, int] = {}
        self._status: dict[int, str] = {}  # the status set here, per connected user
        self._tasks: set[asyncio.Task[None]] = set()
        self._guild_size = guild_size
        self._guilds_of = guilds_of
        self._sizes: Remembered[int, int] = Remembered(capacity=10_000)
        self._leases: Remembered[str, bool] = Remembered(capacity=1_000)
        # A mass disconnect (a drained gateway, a network blip) ends in as many offline
        # verdicts at once: a bounded number talk to NATS at a time, not all of them.
        self._store_calls = asyncio.Semaphore(STORE_CONCURRENCY)

    async def start(self) -> None:
        now = datetime.now(UTC)
        await self._store.register(self.gateway_id, now)
        await self._store.renew_lease(self.gateway_id, now)

    async def renew_lease(self) -> None:
        """Keep this gateway's lease: while it lasts, its connections count as present. If the
        lease lapsed (NATS out of reach for longer than its TTL) and another gateway swept this
        one up, note the gateway and its users again, announcing them online."""
        now = datetime.now(UTC)
        await self._store.renew_lease(self.gateway_id, now)
        if await self._store.is_registered(self.gateway_id):
            return
        log.warning("this gateway was swept up as dead: recording its users again")
        await self._store.register(self.gateway_id, now)
        for user_id, status in list(self._status.items()):
            await self._store.hold(user_id, self.gateway_id)
            await self.set_status(user_id, status)

    async def connected(self, user_id: int, status: str) -> None:
        """Count one more connection of `user_id` here (at once, before any await)."""
        first = user_id not in self._connections
        self._connections[user_id] = self._connections.get(user_id, 0) + 1
        if first:  # noted before the record names this gateway, so a sweep finds the user
            try:
                await self._store.hold(user_id, self.gateway_id)
            except Exception:
                log.exception("presence: could not note the user", extra={"user_id": user_id})
        await self.set_status(user_id, status)

    async def set_status(self, user_id: int, status: str) -> None:
        if self._connections.get(user_id, 0) == 0:
            return

        self._status[user_id] = status

        async def connect(record: presence_store.Presence) -> presence_store.Presence:
            return (await self._pruned(record)).connected(self.gateway_id, status)

        # Presence is best effort, as on the way offline: a NATS blip must not end a session
        # that is already live. The next change records and announces again.
        try:
            async with self._store_calls:
                before, after = await self._store.change(user_id, connect)
                if (await self._pruned(before)).status != after.status:
                    await self._announce(user_id, after.status, None)
        except Exception:
            log.exception("presence: could not record or announce", extra={"user_id": user_id})

    def disconnected(self, user_id: int) -> None:
        left = self._connections.get(user_id, 0) - 1
        if left > 0:
            self._connections[user_id] = left
            return
        self._connections.pop(user_id, None)
        task = asyncio.create_task(self._offline_after_grace(user_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _offline_after_grace(self, user_id: int) -> None:
        await asyncio.sleep(self._grace)
        if self._connections.get(user_id, 0) > 0:
            return  # reconnected here within the grace period
        self._status.pop(user_id, None)
        now = datetime.now(UTC)

        async def disconnect(record: presence_store.Presence) -> presence_store.Presence:
            return (await self._pruned(record)).disconnected(self.gateway_id, now)

        try:
            async with self._store_calls:
                before, after = await self._store.change(user_id, disconnect)
                was = (await self._pruned(before)).status
                if after.status == presence_store.OFFLINE and was != presence_store.OFFLINE:
                    await self._announce(user_id, presence_store.OFFLINE, now)
                await self._store.release(user_id, self.gateway_id)
        except Exception:
            log.exception("presence: could not mark offline", extra={"user_id": user_id})

    async def sweep(self) -> None:
        """Sweep up after gateways that died (lease gone, still noted): their users leave the
        records, those left with no gateway are announced offline, and the gateway is
        forgotten. Every live gateway sweeps; compare-and-set makes one of them announce."""
        for gateway_id in await self._store.registered_gateways():
            if gateway_id == self.gateway_id or await self._store.is_live(gateway_id):
                continue
            users = await self._store.held_by(gateway_id)
            log.info(
                "sweeping a gateway that died", extra={"gateway": gateway_id, "users": len(users)}
            )
            await asyncio.gather(*(self._sweep_user(u, gateway_id) for u in users))
            await self._store.forget(gateway_id)

    async def _sweep_user(self, user_id: int, gateway_id: str) -> None:
        now = datetime.now(UTC)

        async def drop(record: presence_store.Presence) -> presence_store.Presence:
            return record.disconnected(gateway_id, now) if gateway_id in record.gateways else record

        async with self._store_calls:
            before, after = await self._store.change(user_id, drop)
            if before != after and after.status == presence_store.OFFLINE:
                await self._announce(user_id, presence_store.OFFLINE, now)
            await self._store.release(user_id, gateway_id)

    async def _pruned(self, record: presence_store.Presence) -> presence_store.Presence:
        """`record` without the gateways that died (checked at most every few seconds each)."""
        dead = frozenset(
            [g for g in record.gateways if g != self.gateway_id and not await self._is_live(g)]
        )
        return record.without(dead)

    async def _is_live(self, gateway_id: str) -> bool:
        return await self._leases.get(
            gateway_id, seconds=LEASE_CACHE_SECONDS, load=self._store.is_live
        )

    async def _announce(self, user_id: int, status: str, last_seen: datetime | None) -> None:
        """One PRESENCE_UPDATE per guild the user is a member of now (not when it identified:
        a guild joined since hears of it, a guild that kicked the user does not)."""
        for guild_id in await self._guilds_of(user_id):
            if await self._size_of(guild_id) > LARGE_GUILD_MEMBERS:
                continue
            payload = events.PresenceUpdated(
                user_id=user_id, status=status, last_seen=last_seen, guild_id=guild_id
            )
            await self._feed.publish(
                events.build(
                    "PRESENCE_UPDATE",
                    payload,
                    event_id=self._ids.next_id(),
                    scope="guild",
                    scope_id=guild_id,
                    guild_id=guild_id,
                )
            )

    async def _size_of(self, guild_id: int) -> int:
        return await self._sizes.get(
            guild_id, seconds=GUILD_SIZE_CACHE_SECONDS, load=self._guild_size
        )

    async def statuses(
        self, user_ids: Iterable[int], *, guild_id: int
    ) -> list[events.PresenceUpdated]:
        """The shared presence of `user_ids`, members of `guild_id` (offline when unknown)."""
        found = []
        for user_id in user_ids:
            record = await self._pruned(await self._store.read(user_id))
            found.append(
                events.PresenceUpdated(
                    user_id=user_id,
                    status=record.status,
                    last_seen=record.last_seen,
                    guild_id=guild_id,
                )
            )
        return found

    async def settle(self, *, wait_seconds: float) -> None:
        """Wait (at most `wait_seconds`) for pending offline verdicts."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=wait_seconds)

    async def close(self) -> None:
        """Stop; with this gateway's lease ended, users whose offline verdict was still pending
        read offline everywhere at once (unannounced)."""
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await self._store.end_lease(self.gateway_id)
