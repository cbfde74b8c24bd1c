"""Test data for one load shape: K confirmed users with access tokens, M guilds (one owner
each, who sends) whose default text channel is the channel, user j a member of guild j % M;
and, per channel, what the load generator publishes: the JetStream subject and event envelope
for the gateway (built with the platform's own event schema) and the anchor's channel name.

Writes go through the platform's adapters (accounts, directory) in a few transactions, and
guilds are created through the API, so the gateway sees exactly what a real sign-up makes."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import argon2
import httpx

from gochat.adapters.postgres import accounts
from gochat.adapters.postgres.database import Database
from gochat.adapters.postgres.directory import Directory
from gochat.auth import keys, opaque_tokens
from gochat.core import events, ids, schemas

PLACEHOLDER = "__BENCH__"  # the load generator puts "bench:<send time ns>" here
TOKEN_TTL_SECONDS = 4 * 3600
_ids = ids.SnowflakeGenerator(ids.default_worker_id())
_serial = itertools.count(1)


@dataclass(frozen=True)
class Channel:
    guild_id: int
    channel_id: int
    owner_token: str
    gochat_subject: str
    gochat_envelope: str  # JSON event with PLACEHOLDER as the message content
    anchor_name: str
    anchor_payload: str  # the message object a client receives, same bytes as the gateway's


@dataclass(frozen=True)
class Shape:
    name: str
    tokens: list[str]  # one per client; client j is in channels[j % M]
    channels: list[Channel]


async def create_users(db: Database, keys_dir: Path, count: int) -> list[tuple[int, str]]:
    """(user id, access token) of `count` new confirmed users, in one transaction."""
    ring = keys.KeyRing.load_or_create(keys_dir)
    password_hash = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("x" * 12)
    now = datetime.now(UTC)
    made = []
    async with db.transaction("bench_seed_users") as conn:
        tx = accounts.AccountsTx(conn)
        for _ in range(count):
            user_id, family_id = _ids.next_id(), _ids.next_id()
            name = f"bench{next(_serial)}_{user_id % 1_000_000}"
            await tx.insert_user(
                user_id=user_id,
                username=name,
                email=f"{name}@example.com",
                password_hash=password_hash,
            )
            await tx.mark_email_confirmed(user_id, now=now)
            await tx.insert_refresh_token(
                token_id=family_id,
                user_id=user_id,
                family_id=family_id,
                token_hash=opaque_tokens.digest(opaque_tokens.new_token()),
                expires_at=now + timedelta(days=1),
            )
            token = ring.sign_access_token(
                user_id=user_id,
                session_id=family_id,
                issuer="gochat",
                issued_at=now,
                ttl_seconds=TOKEN_TTL_SECONDS,
            )
            made.append((user_id, token))
    return made


async def create_shape(
    *, name: str, clients: int, channels: int, db: Database, keys_dir: Path, api_url: str
) -> Shape:
    owners = await create_users(db, keys_dir, channels)
    members = await create_users(db, keys_dir, clients)
    directory = Directory(db)
    made: list[Channel] = []
    async with httpx.AsyncClient(base_url=api_url, timeout=60) as api:
        for index, (owner_id, owner_token) in enumerate(owners):
            response = await api.post(
                "/guilds",
                json={"name": f"bench-{name}-{index}"},
                headers={"Authorization": f"Bearer {owner_token}"},
            )
            response.raise_for_status()
            guild_id = int(response.json()["id"])
            async with directory.read("bench_seed_channel") as tx:
                channel = (await tx.list_channels(guild_id))[0]
                owner = await tx.get_user(owner_id)
            assert owner is not None
            made.append(
                _channel(
                    index, guild_id=guild_id, channel_id=channel.id, owner=owner, token=owner_token
                )
            )
    async with directory.transaction("bench_seed_members") as tx:
        for j, (user_id, _) in enumerate(members):
            await tx.insert_member(guild_id=made[j % channels].guild_id, user_id=user_id)
    return Shape(name, [token for _, token in members], made)


def _channel(
    index: int, *, guild_id: int, channel_id: int, owner: schemas.User, token: str
) -> Channel:
    message = schemas.Message(
        id=_ids.next_id(),
        channel_id=channel_id,
        guild_id=guild_id,
        author=owner,
        content=PLACEHOLDER,
        created_at=datetime.now(UTC),
    )
    event = events.build(
        "MESSAGE_CREATE",
        message,
        event_id=_ids.next_id(),
        scope="guild",
        scope_id=guild_id,
        guild_id=guild_id,
        channel_id=channel_id,
    )
    return Channel(
        guild_id=guild_id,
        channel_id=channel_id,
        owner_token=token,
        gochat_subject=event.subject,
        gochat_envelope=event.model_dump_json(),
        anchor_name=f"ch{index}",
        anchor_payload=message.model_dump_json(),
    )


async def warm_up_api(api_url: str, shape: Shape, *, sends: int, clients: int) -> dict[str, Any]:
    """Send `sends` messages through the API before anything is measured, over `clients`
    connections (SO_REUSEPORT spreads connections, so every API worker gets some): a fresh
    worker's first requests pay one-off costs (route and validator set-up, pool connections
    opening, each new database session's first statements) that are not the steady state the
    latency target is about. Their latencies are returned, so the cold start stays on record."""
    latencies: list[float] = []
    queue = list(range(sends))
    started = time.monotonic()

    async def sender() -> None:
        async with httpx.AsyncClient(base_url=api_url, timeout=60) as api:
            while queue:
                index = queue.pop()
                channel = shape.channels[index % len(shape.channels)]
                sent = time.monotonic()
                response = await api.post(
                    f"/channels/{channel.channel_id}/messages",
                    json={"content": f"warm-up {index}"},
                    headers={"Authorization": f"Bearer {channel.owner_token}"},
                )
                response.raise_for_status()
                latencies.append(time.monotonic() - sent)

    await asyncio.gather(*(sender() for _ in range(clients)))
    latencies.sort()
    return {
        "sends": sends,
        "connections": clients,
        "seconds": round(time.monotonic() - started, 2),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1),
    }
