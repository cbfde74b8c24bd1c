"""In-memory stand-ins for the gateway's edges: a transport that records frames, and a
directory that serves one guild's state without PostgreSQL."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gochat.core import events, permissions, schemas
from gochat.ws.session import Outbox, Session, State

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class RecordingTransport:
    writes: list[bytes] = field(default_factory=list)
    closed: tuple[int, str] | None = None

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def frames(self) -> list[dict[str, Any]]:
        """Decode the written server frames (unmasked text frames) back into JSON."""
        data = b"".join(self.writes)
        found = []
        while data:
            length = data[1] & 0x7F
            offset = 2
            if length == 126:
                length, offset = int.from_bytes(data[2:4], "big"), 4
            elif length == 127:
                length, offset = int.from_bytes(data[2:10], "big"), 10
            found.append(json.loads(data[offset : offset + length]))
            data = data[offset + length :]
        return found

    def dispatches(self) -> list[dict[str, Any]]:
        return [f for f in self.frames() if f["op"] == 0]


@dataclass
class FakeTx:
    guild: schemas.Guild | None
    roles: list[schemas.Role]
    overwrites: dict[int, list[permissions.Overwrite]]
    members: dict[int, list[int]]

    async def get_guild(self, guild_id: int) -> schemas.Guild | None:
        return self.guild

    async def list_roles(self, guild_id: int) -> list[schemas.Role]:
        return self.roles

    async def guild_overwrites(self, guild_id: int) -> dict[int, list[permissions.Overwrite]]:
        return {k: list(v) for k, v in self.overwrites.items()}

    async def list_channels(self, guild_id: int) -> list[schemas.Channel]:
        return [
            schemas.Channel(
                id=channel_id,
                type="text",
                guild_id=guild_id,
                name=f"c{channel_id}",
                created_at=NOW,
                overwrites=[_overwrite(o) for o in overwrites],
            )
            for channel_id, overwrites in self.overwrites.items()
        ]

    async def get_member(self, guild_id: int, user_id: int) -> schemas.Member | None:
        if user_id not in self.members:
            return None
        user = schemas.User(id=user_id, username=f"u{user_id}", created_at=NOW)
        return schemas.Member(
            guild_id=guild_id, user=user, role_ids=self.members[user_id], joined_at=NOW
        )


def _overwrite(overwrite: permissions.Overwrite) -> schemas.Overwrite:
    return schemas.Overwrite(
        id=overwrite.target_id,
        type="role" if overwrite.target_type == "role" else "member",
        allow=overwrite.allow,
        deny=overwrite.deny,
    )


class FakeDirectory:
    def __init__(self, tx: FakeTx) -> None:
        self.tx = tx

    @contextlib.asynccontextmanager
    async def read(self, name: str) -> AsyncIterator[FakeTx]:
        yield self.tx


GUILD_ID, OWNER_ID = 100, 1


def guild_tx(*, members: dict[int, list[int]], channels: list[int]) -> FakeTx:
    return FakeTx(
        guild=schemas.Guild(id=GUILD_ID, name="g", owner_id=OWNER_ID, created_at=NOW),
        roles=[
            schemas.Role(
                id=GUILD_ID,
                guild_id=GUILD_ID,
                name="@everyone",
                permissions=int(permissions.DEFAULT_EVERYONE),
                position=0,
            )
        ],
        overwrites={channel: [] for channel in channels},
        members=members,
    )


def live_session(outbox: Outbox, user_id: int) -> tuple[Session, RecordingTransport]:
    transport = RecordingTransport()
    session = Session(transport, outbox, deadline=1e18)
    session.user_id = user_id
    session.session_id = f"s{user_id}"
    session.state = State.LIVE
    return session, transport


def message(channel_id: int, content: str, *, event_id: int) -> events.Event:
    author = schemas.User(id=OWNER_ID, username="owner", created_at=NOW)
    payload = schemas.Message(
        id=event_id, channel_id=channel_id, guild_id=GUILD_ID, author=author, content=content,
        created_at=NOW,
    )  # fmt: skip
    return events.build(
        "MESSAGE_CREATE", payload, event_id=event_id, scope="guild", scope_id=GUILD_ID,
        guild_id=GUILD_ID, channel_id=channel_id,
    )  # fmt: skip
