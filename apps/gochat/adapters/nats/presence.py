"""Presence shared by every gateway process, in JetStream KV.

Keys: `conn.<user_id>.<gateway_id>` = the status of that user's connections on one gateway
(refreshed while they last; the bucket's TTL removes the keys of a gateway that died), and
`user.<user_id>` = the status everyone sees, with last-seen once offline. A user is offline when
no `conn.<user_id>.*` key remains.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

import orjson
from nats.aio import client as nats_client
from nats.js import errors as js_errors

from gochat.adapters.nats import kv as kv_buckets

BUCKET = "gochat_presence"
CONNECTION_TTL_SECONDS = 90.0  # gateways refresh their keys every third of this


class PresenceStore(kv_buckets.BucketStore):
    ttl_seconds = CONNECTION_TTL_SECONDS

    def __init__(self, client: nats_client.Client, *, bucket: str = BUCKET) -> None:
        super().__init__(client, bucket=bucket)

    async def set_connected(self, user_id: int, gateway_id: str, status: str) -> None:
        await self.kv.put(f"conn.{user_id}.{gateway_id}", status.encode())

    async def set_disconnected(self, user_id: int, gateway_id: str) -> None:
        with contextlib.suppress(js_errors.KeyNotFoundError):
            await self.kv.delete(f"conn.{user_id}.{gateway_id}")

    async def connected_statuses(self, user_id: int) -> list[str]:
        """The statuses of the user's connections on every gateway (empty: offline)."""
        try:
            keys = await self.kv.keys(filters=[f"conn.{user_id}.*"])
        except js_errors.NoKeysError:
            return []
        statuses = []
        for key in keys:
            try:
                entry = await self.kv.get(key)
            except js_errors.KeyNotFoundError:
                continue
            if entry.value:
                statuses.append(entry.value.decode())
        return statuses

    async def publish_status(self, user_id: int, status: str, last_seen: datetime | None) -> None:
        value = {"status": status, "last_seen": last_seen.isoformat() if last_seen else None}
        await self.kv.put(f"user.{user_id}", orjson.dumps(value))

    async def status_of(self, user_id: int) -> dict[str, Any] | None:
        try:
            entry = await self.kv.get(f"user.{user_id}")
        except js_errors.KeyNotFoundError:
            return None
        result: dict[str, Any] | None = orjson.loads(entry.value) if entry.value else None
        return result
