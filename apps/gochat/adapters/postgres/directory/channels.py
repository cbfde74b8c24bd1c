"""Guild channels, categories, direct-message channels and permission overwrites."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from gochat.adapters.postgres.directory.base import Queries, set_clause
from gochat.core import schemas

_CHANNEL_COLUMNS = (
    "c.id, c.type, c.guild_id, c.name, c.topic, c.position, c.parent_id, c.last_message_id, "
    "c.created_at"
)
_CHANNEL_SELECT = f"""
    SELECT {_CHANNEL_COLUMNS},
           coalesce((SELECT jsonb_agg(jsonb_build_object('id', o.target_id::text,
                         'type', o.target_type, 'allow', o.allow::text, 'deny', o.deny::text)
                         ORDER BY o.target_id)
                       FROM overwrites o WHERE o.channel_id = c.id), '[]') AS overwrites,
           coalesce((SELECT array_agg(r.user_id ORDER BY r.user_id)
                       FROM channel_recipients r WHERE r.channel_id = c.id), '{{}}') AS recipients
      FROM channels c
"""
_CHANNEL_FIELDS = ("name", "topic", "position", "parent_id")


def channel_from(row: asyncpg.Record) -> schemas.Channel:
    overwrites = row["overwrites"]
    if isinstance(overwrites, str):
        overwrites = json.loads(overwrites)
    return schemas.Channel(
        id=row["id"],
        type=row["type"],
        guild_id=row["guild_id"],
        name=row["name"],
        topic=row["topic"],
        position=row["position"],
        parent_id=row["parent_id"],
        last_message_id=row["last_message_id"],
        created_at=row["created_at"],
        overwrites=[
            schemas.Overwrite(**{**o, "allow": int(o["allow"]), "deny": int(o["deny"])})
            for o in overwrites
        ],
        recipient_ids=list(row["recipients"]),
    )


class ChannelQueries(Queries):
    async def insert_channel(
        self,
        *,
        channel_id: int,
        guild_id: int | None,
        channel_type: str,
        name: str | None,
        topic: str | None = None,
        position: int = 0,
        parent_id: int | None = None,
        dm_key: str | None = None,
    ) -> None:
        await self.conn.execute(
            "INSERT INTO channels (id, type, guild_id, name, topic, position, parent_id, dm_key) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            channel_id,
            channel_type,
            guild_id,
            name,
            topic,
            position,
            parent_id,
            dm_key,
        )

    async def get_channel(self, channel_id: int) -> schemas.Channel | None:
        row = await self.conn.fetchrow(f"{_CHANNEL_SELECT} WHERE c.id = $1", channel_id)
        return channel_from(row) if row else None

    async def list_channels(self, guild_id: int) -> list[schemas.Channel]:
        rows = await self.conn.fetch(
            f"{_CHANNEL_SELECT} WHERE c.guild_id = $1 ORDER BY c.position, c.id", guild_id
        )
        return [channel_from(row) for row in rows]

    async def next_channel_position(self, guild_id: int) -> int:
        value = await self.conn.fetchval(
            "SELECT coalesce(max(position) + 1, 0) FROM channels WHERE guild_id = $1", guild_id
        )
        return int(value)

    async def update_channel(self, channel_id: int, changes: dict[str, Any]) -> None:
        assignments, values = set_clause(_CHANNEL_FIELDS, changes)
        if assignments:
            await self.conn.execute(
                f"UPDATE channels SET {assignments} WHERE id = $1", channel_id, *values
            )

    async def set_channel_positions(self, guild_id: int, positions: dict[int, int]) -> None:
        await self.conn.executemany(
            "UPDATE channels SET position = $3 WHERE guild_id = $1 AND id = $2",
            [(guild_id, channel_id, pos) for channel_id, pos in positions.items()],
        )

    async def delete_channel(self, channel_id: int) -> None:
        await self.conn.execute("DELETE FROM channels WHERE id = $1", channel_id)

    async def put_overwrite(
        self, *, channel_id: int, target_id: int, target_type: str, allow: int, deny: int
    ) -> None:
        await self.conn.execute(
            "INSERT INTO overwrites (channel_id, target_id, target_type, allow, deny) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (channel_id, target_id) DO UPDATE "
            "SET target_type = EXCLUDED.target_type, allow = EXCLUDED.allow, deny = EXCLUDED.deny",
            channel_id,
            target_id,
            target_type,
            allow,
            deny,
        )

    async def delete_overwrite(self, channel_id: int, target_id: int) -> bool:
        status = await self.conn.execute(
            "DELETE FROM overwrites WHERE channel_id = $1 AND target_id = $2",
            channel_id,
            target_id,
        )
        return status.endswith(" 1")

    async def find_dm(self, dm_key: str) -> schemas.Channel | None:
        row = await self.conn.fetchrow(f"{_CHANNEL_SELECT} WHERE c.dm_key = $1", dm_key)
        return channel_from(row) if row else None

    async def insert_dm(self, *, channel_id: int, dm_key: str, user_ids: list[int]) -> bool:
        """Create a DM channel; False when a concurrent request created the same pair first."""
        created = await self.conn.fetchval(
            "INSERT INTO channels (id, type, dm_key) VALUES ($1, 'dm', $2) "
            "ON CONFLICT (dm_key) DO NOTHING RETURNING true",
            channel_id,
            dm_key,
        )
        if created:
            await self.conn.executemany(
                "INSERT INTO channel_recipients (channel_id, user_id) VALUES ($1, $2)",
                [(channel_id, user_id) for user_id in user_ids],
            )
        return bool(created)

    async def dm_channels_of(self, user_id: int) -> list[schemas.Channel]:
        rows = await self.conn.fetch(
            f"{_CHANNEL_SELECT} JOIN channel_recipients me ON me.channel_id = c.id "
            "WHERE me.user_id = $1 ORDER BY c.id",
            user_id,
        )
        return [channel_from(row) for row in rows]
