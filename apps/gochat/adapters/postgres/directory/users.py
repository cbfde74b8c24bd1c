from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gochat.adapters.postgres.directory.base import USER_COLUMNS, Queries, set_clause, user_from
from gochat.core import schemas

_PROFILE_FIELDS = ("display_name", "bio", "avatar_url")


class UserQueries(Queries):
    async def get_user(self, user_id: int) -> schemas.User | None:
        row = await self.conn.fetchrow(
            f"SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1", user_id
        )
        return user_from(row) if row else None

    async def get_users(self, user_ids: Sequence[int]) -> dict[int, schemas.User]:
        rows = await self.conn.fetch(
            f"SELECT {USER_COLUMNS} FROM users u WHERE u.id = ANY($1::bigint[])", list(user_ids)
        )
        return {row["id"]: user_from(row) for row in rows}

    async def update_profile(self, user_id: int, changes: dict[str, Any]) -> schemas.User | None:
        assignments, values = set_clause(_PROFILE_FIELDS, changes)
        if not assignments:
            return await self.get_user(user_id)
        row = await self.conn.fetchrow(
            f"UPDATE users u SET {assignments}, updated_at = now() WHERE u.id = $1 "
            f"RETURNING {USER_COLUMNS}",
            user_id,
            *values,
        )
        return user_from(row) if row else None

    async def guild_ids_of(self, user_id: int) -> list[int]:
        rows = await self.conn.fetch("SELECT guild_id FROM members WHERE user_id = $1", user_id)
        return [row["guild_id"] for row in rows]
