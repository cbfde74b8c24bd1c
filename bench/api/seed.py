"""The data the loads run against: accounts written straight to the database (tests' fast path),
guilds, channels and memberships made over the real HTTP API."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.fixtures import accounts

TOKEN_TTL_SECONDS = 4 * 3600  # outlives the whole benchmark


@dataclass(frozen=True)
class Target:
    """One request target for the load generator: a channel and whose token writes to it."""

    channel_id: str
    token: str


@dataclass(frozen=True)
class Seeded:
    one_guild: list[Target]  # many members, one shared channel
    many_guilds: list[Target]  # one owner per guild, one channel each


def write_targets(targets: list[Target], path: Path) -> Path:
    """The line format the Lua scripts read: `<channel_id> <token>`."""
    path.write_text("".join(f"{t.channel_id} {t.token}\n" for t in targets))
    return path


async def _guild_with_channel(api: httpx.AsyncClient, token: str, name: str) -> tuple[str, str]:
    auth = {"Authorization": f"Bearer {token}"}
    guild = await api.post("/guilds", json={"name": name}, headers=auth)
    guild.raise_for_status()
    guild_id = guild.json()["id"]
    channel = await api.post(f"/guilds/{guild_id}/channels", json={"name": "bench"}, headers=auth)
    channel.raise_for_status()
    return guild_id, channel.json()["id"]


async def _join(api: httpx.AsyncClient, *, owner: str, channel_id: str, members: list[str]) -> None:
    invite = await api.post(
        f"/channels/{channel_id}/invites",
        json={"max_uses": 0},
        headers={"Authorization": f"Bearer {owner}"},
    )
    invite.raise_for_status()
    code = invite.json()["code"]
    for token in members:
        joined = await api.post(
            f"/invites/{code}/accept", headers={"Authorization": f"Bearer {token}"}
        )
        joined.raise_for_status()


async def seed(*, api_url: str, dsn: str, keys_dir: Path, users: int) -> Seeded:
    """`users` members in one guild, and `users` guilds with one owner each."""
    made = [
        await accounts.create_account(dsn, keys_dir, access_ttl_seconds=TOKEN_TTL_SECONDS)
        for _ in range(2 * users)
    ]
    shared, owners = [a.access_token for a in made[:users]], [a.access_token for a in made[users:]]
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as api:
        _, shared_channel = await _guild_with_channel(api, shared[0], "bench shared")
        await _join(api, owner=shared[0], channel_id=shared_channel, members=shared[1:])
        channels = await asyncio.gather(
            *(_guild_with_channel(api, t, f"bench {i}") for i, t in enumerate(owners))
        )
    return Seeded(
        one_guild=[Target(shared_channel, t) for t in shared],
        many_guilds=[Target(channel, t) for (_, channel), t in zip(channels, owners, strict=True)],
    )
