"""Refresh tokens, grouped in families: a family is one login session and its id is the `sid`
claim of the access tokens issued for it. Rotation marks the presented token `rotated_at` and
adds its successor to the same family; revocation marks every token of the family."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True, slots=True)
class RefreshToken:
    id: int
    user_id: int
    family_id: int
    expires_at: datetime
    rotated_at: datetime | None
    revoked_at: datetime | None


class SessionQueries:
    conn: asyncpg.Connection

    async def insert_refresh_token(
        self,
        *,
        token_id: int,
        user_id: int,
        family_id: int,
        token_hash: bytes,
        expires_at: datetime,
    ) -> None:
        await self.conn.execute(
            "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at) "
            "VALUES ($1, $2, $3, $4, $5)",
            token_id,
            user_id,
            family_id,
            token_hash,
            expires_at,
        )

    async def refresh_token_for_update(self, token_hash: bytes) -> RefreshToken | None:
        """The token with this digest, locked so that two concurrent rotations take turns."""
        row = await self.conn.fetchrow(
            "SELECT id, user_id, family_id, expires_at, rotated_at, revoked_at "
            "FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
            token_hash,
        )
        return RefreshToken(**dict(row)) if row else None

    async def mark_rotated(self, token_id: int, *, now: datetime) -> None:
        await self.conn.execute(
            "UPDATE refresh_tokens SET rotated_at = $2 WHERE id = $1", token_id, now
        )

    async def revoke_family(self, family_id: int, *, now: datetime) -> None:
        await self.conn.execute(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
            family_id,
            now,
        )

    async def revoke_user_sessions(
        self, user_id: int, *, now: datetime, keep_family_id: int | None = None
    ) -> None:
        """Revoke every session of the user, except `keep_family_id` when given."""
        await self.conn.execute(
            "UPDATE refresh_tokens SET revoked_at = $2 "
            "WHERE user_id = $1 AND revoked_at IS NULL AND family_id IS DISTINCT FROM $3",
            user_id,
            now,
            keep_family_id,
        )

    async def session_is_active(self, *, user_id: int, family_id: int, now: datetime) -> bool:
        """True while the family has an unrevoked, unexpired token of this user."""
        active: bool = await self.conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = $1 AND user_id = $2 "
            "AND revoked_at IS NULL AND rotated_at IS NULL AND expires_at > $3)",
            family_id,
            user_id,
            now,
        )
        return active

    async def purge_refresh_tokens(self, *, before: datetime) -> int:
        result: str = await self.conn.execute(
            "DELETE FROM refresh_tokens WHERE expires_at < $1", before
        )
        return int(result.split()[-1])
