"""Presence: online / idle / dnd while a user has a connection anywhere, offline (with last-seen)
once their last connection on every gateway has been gone for `presence_grace_seconds`.

Each gateway counts its own connections per user and keeps one KV key per (user, gateway); a
change is broadcast as a PRESENCE_UPDATE event to each of the user's guilds through the stream.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

from gochat.adapters.nats import gateway_events
from gochat.adapters.nats import presence as presence_store
from gochat.core import events, ids

log = logging.getLogger(__name__)
# Above this many members a guild gets no presence broadcasts (each change would go to every
# member: quadratic); its clients ask with REQUEST_GUILD_MEMBERS, whose chunks carry presences.
LARGE_GUILD_MEMBERS = 250
GUILD_SIZE_CACHE_SECONDS = 60.0
GuildSize = Callable[[int], Awaitable[int]]


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
    ) -> None:
        self._store = store
        self._feed = feed
        self._ids = id_source
        self._gateway_id = gateway_id
        self._grace = grace_seconds
        self._connections: dict[int, int] = {}
        self._status: dict[int, str] = {}
        self._guilds: dict[int, frozenset[int]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._guild_size = guild_size
        self._sizes: dict[int, tuple[float, int]] = {}

    async def connected(self, user_id: int, status: str, guild_ids: Iterable[int]) -> None:
        self._connections[user_id] = self._connections.get(user_id, 0) + 1
        self._guilds[user_id] = frozenset(guild_ids)
        await self.set_status(user_id, status)

    async def set_status(self, user_id: int, status: str) -> None:
        if self._connections.get(user_id, 0) == 0:
            return
        previous = self._status.get(user_id)
        self._status[user_id] = status
        # Presence is best effort, as on the way offline: a NATS blip must not end a session
        # that is already live. The key is re-put by `refresh`; the next change announces again.
        try:
            await self._store.set_connected(user_id, self._gateway_id, status)
            if status != previous:
                await self._announce(user_id, status, None)
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
        try:
            await self._store.set_disconnected(user_id, self._gateway_id)
            if await self._store.connected_statuses(user_id):
                return  # still connected through another gateway
            await self._announce(user_id, "offline", datetime.now(UTC))
        except Exception:
            log.exception("presence: could not mark offline", extra={"user_id": user_id})
        finally:
            self._guilds.pop(user_id, None)

    async def refresh(self) -> None:
        """Re-put this gateway's keys so the bucket TTL only removes a dead gateway's."""
        for user_id, status in list(self._status.items()):
            await self._store.set_connected(user_id, self._gateway_id, status)

    async def _announce(self, user_id: int, status: str, last_seen: datetime | None) -> None:
        await self._store.publish_status(user_id, status, last_seen)
        payload = events.PresenceUpdated(user_id=user_id, status=status, last_seen=last_seen)
        for guild_id in self._guilds.get(user_id, frozenset()):
            if await self._size_of(guild_id) > LARGE_GUILD_MEMBERS:
                continue
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
        now = time.monotonic()
        cached = self._sizes.get(guild_id)
        if cached is None or now - cached[0] > GUILD_SIZE_CACHE_SECONDS:
            if len(self._sizes) > 10_000:
                self._sizes.clear()
            cached = self._sizes[guild_id] = (now, await self._guild_size(guild_id))
        return cached[1]

    async def statuses(self, user_ids: Iterable[int]) -> list[events.PresenceUpdated]:
        """The shared presence of `user_ids` (offline when unknown)."""
        found = []
        for user_id in user_ids:
            value = await self._store.status_of(user_id) or {"status": "offline"}
            found.append(
                events.PresenceUpdated(
                    user_id=user_id, status=value["status"], last_seen=value.get("last_seen")
                )
            )
        return found

    async def settle(self, *, wait_seconds: float) -> None:
        """Wait (at most `wait_seconds`) for pending offline verdicts."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=wait_seconds)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
