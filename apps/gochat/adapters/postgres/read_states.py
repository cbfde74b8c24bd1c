"""Read states: per user and channel, the last message read and how many mentions came since."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from gochat.core import schemas


def _from(row: asyncpg.Record) -> schemas.ReadState:
    return schemas.ReadState(
        channel_id=row["channel_id"],
        last_read_message_id=row["last_read_message_id"],
        mention_count=row["mention_count"],
    )


async def mark_read(
    conn: asyncpg.Connection, *, user_id: int, channel_id: int, message_id: int, mention_count: int
) -> schemas.ReadState:
    """Set the user's position in the channel (it may move back: "mark unread")."""
    row = await conn.fetchrow(
        """
        INSERT INTO read_states (user_id, channel_id, last_read_message_id, mention_count)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (user_id, channel_id) DO UPDATE
           SET last_read_message_id = EXCLUDED.last_read_message_id,
               mention_count = EXCLUDED.mention_count, updated_at = now()
        RETURNING channel_id, last_read_message_id, mention_count
        """,
        user_id,
        channel_id,
        message_id,
        mention_count,
    )
    return _from(row)


async def add_mentions(
    conn: asyncpg.Connection, *, channel_id: int, user_ids: Sequence[int]
) -> None:
    """Count one more unread mention in `channel_id` for each of `user_ids` (message creation
    calls this in its own transaction)."""
    await conn.executemany(
        """
        INSERT INTO read_states (user_id, channel_id, mention_count) VALUES ($1, $2, 1)
        ON CONFLICT (user_id, channel_id) DO UPDATE
           SET mention_count = read_states.mention_count + 1, updated_at = now()
        """,
        [(user_id, channel_id) for user_id in user_ids],
    )


async def of_user(conn: asyncpg.Connection, user_id: int) -> list[schemas.ReadState]:
    rows = await conn.fetch(
        "SELECT channel_id, last_read_message_id, mention_count FROM read_states "
        "WHERE user_id = $1 ORDER BY channel_id",
        user_id,
    )
    return [_from(row) for row in rows]


async def get(
    conn: asyncpg.Connection, *, user_id: int, channel_id: int
) -> schemas.ReadState | None:
    row = await conn.fetchrow(
        "SELECT channel_id, last_read_message_id, mention_count FROM read_states "
        "WHERE user_id = $1 AND channel_id = $2",
        user_id,
        channel_id,
    )
    return _from(row) if row else None
