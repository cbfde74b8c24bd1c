"""Presence shared by every gateway process, in two JetStream KV buckets.

`gochat_presence_users` holds one record per user, `user.<user_id>`: the status everyone sees,
last-seen once offline, and the gateways the user is connected through (with the status set
there). Records never expire, so last-seen outlives the connection; every change is a
compare-and-set on the record's revision, so gateways racing on one user lose nothing.

`gochat_gateway_leases` holds one key per live gateway process, renewed every third of its TTL.
A gateway that dies stops renewing; once its lease is gone, its entries in user records no
longer count, and the other gateways sweep up after it: the users bucket also notes each
gateway (`gateway.<id>`) and the users it holds (`held.<id>.<user_id>`, written on a user's
first connection there and removed with their offline verdict), so a sweep knows whom to
announce offline. So the liveness of 10,000 connections costs one put per gateway, not 10,000 keys
that all expire together, and deciding whether a user is offline is one read, not a listing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime
from typing import Any

import orjson
from nats.aio import client as nats_client
from nats.js import errors as js_errors
from nats.js import kv as js_kv

from gochat.adapters.nats import kv as kv_buckets

USERS_BUCKET = "gochat_presence_users"
LEASES_BUCKET = "gochat_gateway_leases"
LEASE_TTL_SECONDS = 90.0  # gateways renew their lease every third of this
OFFLINE = "offline"
# Compare-and-set attempts before giving up on a record: each retry means another gateway
# changed the same user's record in between (their connections racing); retries back off with
# jitter so racers spread out.
CAS_ATTEMPTS = 32
LISTING_CONSUMER_SECONDS = 5.0
CAS_BACKOFF_SECONDS = 0.002


@dataclasses.dataclass(frozen=True)
class Presence:
    """What everyone sees of a user, and the gateways holding their connections."""

    status: str = OFFLINE
    last_seen: str | None = None
    gateways: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def decode(cls, raw: bytes | None) -> Presence:
        if not raw:
            return cls()
        value: dict[str, Any] = orjson.loads(raw)
        return cls(value["status"], value.get("last_seen"), value.get("gateways") or {})

    def encode(self) -> bytes:
        return orjson.dumps(dataclasses.asdict(self))

    def connected(self, gateway_id: str, status: str) -> Presence:
        return Presence(status, None, {**self.gateways, gateway_id: status})

    def disconnected(self, gateway_id: str, now: datetime) -> Presence:
        last_seen = now.isoformat() if self.status != OFFLINE else self.last_seen
        return self._leaving({gateway_id}, last_seen=last_seen)

    def without(self, dead_gateways: frozenset[str]) -> Presence:
        """The record once gateways that died (their lease gone) are dropped: a user whose
        every gateway died reads offline (when exactly they left is not known)."""
        if not dead_gateways & self.gateways.keys():
            return self
        return self._leaving(dead_gateways, last_seen=self.last_seen)

    def _leaving(self, gone: Collection[str], *, last_seen: str | None) -> Presence:
        """Without the gateways `gone`; offline, last seen at `last_seen`, if none is left."""
        gateways = {g: s for g, s in self.gateways.items() if g not in gone}
        if gateways:
            return dataclasses.replace(self, gateways=gateways)
        return Presence(OFFLINE, last_seen)


# Changes may await (to check the leases of the gateways a record names).
Change = Callable[[Presence], Awaitable[Presence]]


class PresenceStore:
    """Open once with `await open()`; gateways keep their lease with `renew_lease`."""

    def __init__(
        self,
        client: nats_client.Client,
        *,
        users_bucket: str = USERS_BUCKET,
        leases_bucket: str = LEASES_BUCKET,
        lease_ttl_seconds: float = LEASE_TTL_SECONDS,
    ) -> None:
        self.users_bucket, self.leases_bucket = users_bucket, leases_bucket
        self._users = kv_buckets.BucketStore(client, bucket=users_bucket, ttl_seconds=0)
        self._leases = kv_buckets.BucketStore(
            client, bucket=leases_bucket, ttl_seconds=lease_ttl_seconds
        )

    async def open(self) -> None:
        await self._users.open()
        await self._leases.open()

    @property
    def users(self) -> js_kv.KeyValue:
        return self._users.kv

    @property
    def leases(self) -> js_kv.KeyValue:
        return self._leases.kv

    # --- gateway leases ---------------------------------------------------------------------

    async def renew_lease(self, gateway_id: str, now: datetime) -> None:
        await self.leases.put(gateway_id, now.isoformat().encode())

    async def end_lease(self, gateway_id: str) -> None:
        await self.leases.purge(gateway_id)

    async def is_live(self, gateway_id: str) -> bool:
        return await self._leases.exists(gateway_id)

    # --- which users each gateway holds (to sweep up after one that died) -----------------------

    async def register(self, gateway_id: str, now: datetime) -> None:
        """Note a gateway in the users bucket (no TTL), so it is swept up if it dies."""
        await self.users.put(f"gateway.{gateway_id}", now.isoformat().encode())

    async def is_registered(self, gateway_id: str) -> bool:
        return await self._users.exists(f"gateway.{gateway_id}")

    async def registered_gateways(self) -> list[str]:
        return [key.removeprefix("gateway.") for key in await self._keys("gateway.*")]

    async def hold(self, user_id: int, gateway_id: str) -> None:
        await self.users.put(f"held.{gateway_id}.{user_id}", b"")

    async def release(self, user_id: int, gateway_id: str) -> None:
        with contextlib.suppress(js_errors.KeyNotFoundError):
            await self.users.delete(f"held.{gateway_id}.{user_id}")

    async def held_by(self, gateway_id: str) -> list[int]:
        prefix = f"held.{gateway_id}."
        return [int(key.removeprefix(prefix)) for key in await self._keys(f"{prefix}*")]

    async def forget(self, gateway_id: str) -> None:
        with contextlib.suppress(js_errors.KeyNotFoundError):
            await self.users.delete(f"gateway.{gateway_id}")

    async def _keys(self, pattern: str) -> list[str]:
        """Keys matching `pattern` (NATS wildcards), filtered by the server. (nats-py's
        `keys(filters=...)` reads every key of the bucket and matches substrings.) A listing
        creates a consumer on the stream (only sweeps list, never a user's path); the server
        drops it soon after, not after nats-py's default five minutes."""
        watcher = await self.users.watch(
            pattern,
            ignore_deletes=True,
            meta_only=True,
            inactive_threshold=LISTING_CONSUMER_SECONDS,
        )
        found = []
        try:
            async for entry in watcher:
                if entry is None:  # the current values are all delivered
                    break
                found.append(entry.key)
        finally:
            await watcher.stop()
        return found

    # --- user records ------------------------------------------------------------------------

    async def read(self, user_id: int) -> Presence:
        try:
            entry = await self.users.get(_key(user_id))
        except js_errors.KeyNotFoundError:
            return Presence()
        return Presence.decode(entry.value)

    async def change(self, user_id: int, change: Change) -> tuple[Presence, Presence]:
        """Apply `change` to the user's record atomically; (before, after)."""
        return await compare_and_set(self.users, _key(user_id), change)


def _key(user_id: int) -> str:
    return f"user.{user_id}"


async def compare_and_set(
    bucket: js_kv.KeyValue, key: str, change: Change, *, attempts: int = CAS_ATTEMPTS
) -> tuple[Presence, Presence]:
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(random.uniform(0, CAS_BACKOFF_SECONDS * attempt))
        try:
            entry = await bucket.get(key)
            before, revision = Presence.decode(entry.value), entry.revision
        except js_errors.KeyNotFoundError:
            before, revision = Presence(), None
        after = await change(before)
        if after == before:
            return before, after
        try:
            if revision is None:
                await bucket.create(key, after.encode())
            else:
                await bucket.update(key, after.encode(), last=revision)
        except js_errors.KeyWrongLastSequenceError:
            continue  # another gateway wrote in between: read again
        return before, after
    raise RuntimeError(f"presence record {key} kept changing under {attempts} attempts")
