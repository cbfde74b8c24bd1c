"""Guild invites: expiry and use limits are enforced atomically on accept."""

from __future__ import annotations

import asyncpg

from gochat.adapters.postgres.directory.base import Queries
from gochat.core import schemas

_INVITE_COLUMNS = "code, guild_id, channel_id, inviter_id, max_uses, uses, expires_at, created_at"


def invite_from(row: asyncpg.Record) -> schemas.Invite:
    return schemas.Invite(**dict(row))


class InviteQueries(Queries):
    async def insert_invite(
        self,
        *,
        code: str,
        guild_id: int,
        channel_id: int | None,
        inviter_id: int,
        max_uses: int,
        max_age_seconds: int,
    ) -> schemas.Invite:
        row = await self.conn.fetchrow(
            f"INSERT INTO invites (code, guild_id, channel_id, inviter_id, max_uses, expires_at) "
            f"VALUES ($1, $2, $3, $4, $5, CASE WHEN $6::int > 0 "
            f"THEN now() + make_interval(secs => $6::int) END) RETURNING {_INVITE_COLUMNS}",
            code,
            guild_id,
            channel_id,
            inviter_id,
            max_uses,
            max_age_seconds,
        )
        return invite_from(row)

    async def get_invite(self, code: str) -> schemas.Invite | None:
        """A usable invite: None when unknown, expired or used up."""
        row = await self.conn.fetchrow(
            f"SELECT {_INVITE_COLUMNS} FROM invites WHERE code = $1 "
            "AND (expires_at IS NULL OR expires_at > now()) AND (max_uses = 0 OR uses < max_uses)",
            code,
        )
        return invite_from(row) if row else None

    async def use_invite(self, code: str) -> schemas.Invite | None:
        """Count one use if the invite is still usable (atomic: two last uses can't both win)."""
        row = await self.conn.fetchrow(
            f"UPDATE invites SET uses = uses + 1 WHERE code = $1 "
            "AND (expires_at IS NULL OR expires_at > now()) AND (max_uses = 0 OR uses < max_uses) "
            f"RETURNING {_INVITE_COLUMNS}",
            code,
        )
        return invite_from(row) if row else None

    async def list_invites(self, guild_id: int) -> list[schemas.Invite]:
        rows = await self.conn.fetch(
            f"SELECT {_INVITE_COLUMNS} FROM invites WHERE guild_id = $1 ORDER BY created_at",
            guild_id,
        )
        return [invite_from(row) for row in rows]

    async def delete_invite(self, code: str) -> schemas.Invite | None:
        row = await self.conn.fetchrow(
            f"DELETE FROM invites WHERE code = $1 RETURNING {_INVITE_COLUMNS}", code
        )
        return invite_from(row) if row else None
