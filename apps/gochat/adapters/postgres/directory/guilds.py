"""Guilds, members and bans."""

from __future__ import annotations

from typing import Any

import asyncpg

from gochat.adapters.postgres.directory.base import USER_COLUMNS, Queries, set_clause, user_from
from gochat.core import schemas

_GUILD_COLUMNS = "id, name, description, icon_url, owner_id, created_at"
_GUILD_FIELDS = ("name", "description", "icon_url", "owner_id")
_MEMBER_SELECT = f"""
    SELECT m.guild_id, m.nick, m.joined_at, {USER_COLUMNS},
           coalesce(array_agg(mr.role_id ORDER BY mr.role_id)
                    FILTER (WHERE mr.role_id IS NOT NULL), '{{}}') AS role_ids
      FROM members m
      JOIN users u ON u.id = m.user_id
      LEFT JOIN member_roles mr ON mr.guild_id = m.guild_id AND mr.user_id = m.user_id
"""


def guild_from(row: asyncpg.Record) -> schemas.Guild:
    return schemas.Guild(**dict(row))


def member_from(row: asyncpg.Record) -> schemas.Member:
    return schemas.Member(
        guild_id=row["guild_id"],
        user=user_from(row),
        nick=row["nick"],
        role_ids=list(row["role_ids"]),
        joined_at=row["joined_at"],
    )


class GuildQueries(Queries):
    async def insert_guild(
        self,
        *,
        guild_id: int,
        name: str,
        description: str | None,
        icon_url: str | None,
        owner_id: int,
    ) -> schemas.Guild:
        row = await self.conn.fetchrow(
            f"INSERT INTO guilds (id, name, description, icon_url, owner_id) "
            f"VALUES ($1, $2, $3, $4, $5) RETURNING {_GUILD_COLUMNS}",
            guild_id,
            name,
            description,
            icon_url,
            owner_id,
        )
        return guild_from(row)

    async def get_guild(self, guild_id: int, *, for_update: bool = False) -> schemas.Guild | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self.conn.fetchrow(
            f"SELECT {_GUILD_COLUMNS} FROM guilds WHERE id = $1{lock}", guild_id
        )
        return guild_from(row) if row else None

    async def update_guild(self, guild_id: int, changes: dict[str, Any]) -> schemas.Guild:
        assignments, values = set_clause(_GUILD_FIELDS, changes)
        if not assignments:
            row = await self.conn.fetchrow(
                f"SELECT {_GUILD_COLUMNS} FROM guilds WHERE id = $1", guild_id
            )
        else:
            row = await self.conn.fetchrow(
                f"UPDATE guilds SET {assignments} WHERE id = $1 RETURNING {_GUILD_COLUMNS}",
                guild_id,
                *values,
            )
        return guild_from(row)

    async def delete_guild(self, guild_id: int) -> None:
        await self.conn.execute("DELETE FROM guilds WHERE id = $1", guild_id)

    async def guilds_of(self, user_id: int) -> list[schemas.Guild]:
        rows = await self.conn.fetch(
            f"SELECT {', '.join('g.' + c for c in _GUILD_COLUMNS.split(', '))} FROM guilds g "
            "JOIN members m ON m.guild_id = g.id WHERE m.user_id = $1 ORDER BY g.id",
            user_id,
        )
        return [guild_from(row) for row in rows]

    async def insert_member(self, *, guild_id: int, user_id: int) -> schemas.Member | None:
        """Add a member; None when they already are one."""
        inserted = await self.conn.fetchval(
            "INSERT INTO members (guild_id, user_id) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING RETURNING true",
            guild_id,
            user_id,
        )
        return await self.get_member(guild_id, user_id) if inserted else None

    async def get_member(self, guild_id: int, user_id: int) -> schemas.Member | None:
        row = await self.conn.fetchrow(
            f"{_MEMBER_SELECT} WHERE m.guild_id = $1 AND m.user_id = $2 "
            "GROUP BY m.guild_id, m.user_id, u.id",
            guild_id,
            user_id,
        )
        return member_from(row) if row else None

    async def list_members(
        self, guild_id: int, *, after: int | None, limit: int
    ) -> list[schemas.Member]:
        rows = await self.conn.fetch(
            f"{_MEMBER_SELECT} WHERE m.guild_id = $1 AND m.user_id > $2 "
            "GROUP BY m.guild_id, m.user_id, u.id ORDER BY m.user_id LIMIT $3",
            guild_id,
            after or 0,
            limit,
        )
        return [member_from(row) for row in rows]

    async def count_members(self, guild_id: int) -> int:
        count: int = await self.conn.fetchval(
            "SELECT count(*) FROM members WHERE guild_id = $1", guild_id
        )
        return count

    async def member_user_ids(self, guild_id: int) -> list[int]:
        rows = await self.conn.fetch("SELECT user_id FROM members WHERE guild_id = $1", guild_id)
        return [row["user_id"] for row in rows]

    async def delete_member(self, guild_id: int, user_id: int) -> bool:
        status = await self.conn.execute(
            "DELETE FROM members WHERE guild_id = $1 AND user_id = $2", guild_id, user_id
        )
        return status.endswith(" 1")

    async def update_member(
        self,
        guild_id: int,
        user_id: int,
        *,
        nick: str | None,
        set_nick: bool,
        role_ids: list[int] | None,
    ) -> schemas.Member | None:
        if set_nick:
            await self.conn.execute(
                "UPDATE members SET nick = $3 WHERE guild_id = $1 AND user_id = $2",
                guild_id,
                user_id,
                nick,
            )
        if role_ids is not None:
            await self.conn.execute(
                "DELETE FROM member_roles WHERE guild_id = $1 AND user_id = $2", guild_id, user_id
            )
            await self.conn.executemany(
                "INSERT INTO member_roles (guild_id, user_id, role_id) VALUES ($1, $2, $3)",
                [(guild_id, user_id, role_id) for role_id in role_ids],
            )
        return await self.get_member(guild_id, user_id)

    async def insert_ban(
        self, *, guild_id: int, user_id: int, reason: str | None, banned_by: int
    ) -> schemas.Ban:
        await self.conn.execute(
            "INSERT INTO bans (guild_id, user_id, reason, banned_by) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (guild_id, user_id) DO UPDATE SET reason = EXCLUDED.reason",
            guild_id,
            user_id,
            reason,
            banned_by,
        )
        ban = await self.get_ban(guild_id, user_id)
        assert ban is not None
        return ban

    async def get_ban(self, guild_id: int, user_id: int) -> schemas.Ban | None:
        row = await self.conn.fetchrow(
            f"SELECT b.guild_id, b.reason, b.created_at AS banned_at, {USER_COLUMNS} FROM bans b "
            "JOIN users u ON u.id = b.user_id WHERE b.guild_id = $1 AND b.user_id = $2",
            guild_id,
            user_id,
        )
        return _ban_from(row) if row else None

    async def list_bans(self, guild_id: int) -> list[schemas.Ban]:
        rows = await self.conn.fetch(
            f"SELECT b.guild_id, b.reason, b.created_at AS banned_at, {USER_COLUMNS} FROM bans b "
            "JOIN users u ON u.id = b.user_id WHERE b.guild_id = $1 ORDER BY b.user_id",
            guild_id,
        )
        return [_ban_from(row) for row in rows]

    async def delete_ban(self, guild_id: int, user_id: int) -> bool:
        status = await self.conn.execute(
            "DELETE FROM bans WHERE guild_id = $1 AND user_id = $2", guild_id, user_id
        )
        return status.endswith(" 1")


def _ban_from(row: asyncpg.Record) -> schemas.Ban:
    return schemas.Ban(
        guild_id=row["guild_id"],
        user=user_from(row),
        reason=row["reason"],
        created_at=row["banned_at"],
    )
