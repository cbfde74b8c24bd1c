"""Roles and their positions."""

from __future__ import annotations

from typing import Any

import asyncpg

from gochat.adapters.postgres.directory.base import Queries, set_clause
from gochat.core import schemas

_ROLE_COLUMNS = "id, guild_id, name, color, permissions, position, mentionable, hoist"
_ROLE_FIELDS = ("name", "color", "permissions", "mentionable", "hoist")


def role_from(row: asyncpg.Record) -> schemas.Role:
    return schemas.Role(**dict(row))


class RoleQueries(Queries):
    async def insert_role(
        self,
        *,
        role_id: int,
        guild_id: int,
        name: str,
        permissions: int,
        position: int,
        color: int = 0,
        mentionable: bool = False,
        hoist: bool = False,
    ) -> schemas.Role:
        row = await self.conn.fetchrow(
            f"INSERT INTO roles ({_ROLE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
            f"RETURNING {_ROLE_COLUMNS}",
            role_id,
            guild_id,
            name,
            color,
            permissions,
            position,
            mentionable,
            hoist,
        )
        return role_from(row)

    async def list_roles(self, guild_id: int) -> list[schemas.Role]:
        rows = await self.conn.fetch(
            f"SELECT {_ROLE_COLUMNS} FROM roles WHERE guild_id = $1 ORDER BY position, id",
            guild_id,
        )
        return [role_from(row) for row in rows]

    async def get_role(self, guild_id: int, role_id: int) -> schemas.Role | None:
        row = await self.conn.fetchrow(
            f"SELECT {_ROLE_COLUMNS} FROM roles WHERE guild_id = $1 AND id = $2", guild_id, role_id
        )
        return role_from(row) if row else None

    async def update_role(self, role_id: int, changes: dict[str, Any]) -> schemas.Role:
        assignments, values = set_clause(_ROLE_FIELDS, changes)
        if not assignments:
            row = await self.conn.fetchrow(
                f"SELECT {_ROLE_COLUMNS} FROM roles WHERE id = $1", role_id
            )
        else:
            row = await self.conn.fetchrow(
                f"UPDATE roles SET {assignments} WHERE id = $1 RETURNING {_ROLE_COLUMNS}",
                role_id,
                *values,
            )
        return role_from(row)

    async def set_role_positions(self, guild_id: int, positions: dict[int, int]) -> None:
        await self.conn.executemany(
            "UPDATE roles SET position = $3 WHERE guild_id = $1 AND id = $2",
            [(guild_id, role_id, position) for role_id, position in positions.items()],
        )

    async def delete_role(self, guild_id: int, role_id: int) -> None:
        await self.conn.execute(
            "DELETE FROM roles WHERE guild_id = $1 AND id = $2", guild_id, role_id
        )

    async def lock_guild_roles(self, guild_id: int) -> None:
        """Serialize role edits of one guild so hierarchy checks see a stable order."""
        await self.conn.execute("SELECT 1 FROM guilds WHERE id = $1 FOR UPDATE", guild_id)
