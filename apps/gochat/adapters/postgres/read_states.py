"""Read states: per user and channel, the last message read and how many mentions came since."""

from __future__ import annotations

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


def count_mentions_cte(*, name: str, readers: str, source: str, gate: str) -> str:
    """A data-modifying CTE `name` for a WITH clause: one more unread mention in the channel of
    `source`'s row (a CTE returning `channel_id`) for each user id in the bigint[] `readers`
    (distinct). Nothing is counted unless `source` and every CTE in `gate` returned a row, and
    no read state is touched before they have all run (a lock order: see messages._INSERT)."""
    return f"""
    {name} AS (
        INSERT INTO read_states (user_id, channel_id, mention_count)
        SELECT DISTINCT reader, {source}.channel_id, 1
          FROM {source}, {gate}, unnest({readers}::bigint[]) AS reader
         ORDER BY reader  -- concurrent sends lock the read states they share in one order
        ON CONFLICT (user_id, channel_id) DO UPDATE
           SET mention_count = read_states.mention_count + 1, updated_at = now()
        RETURNING user_id)"""


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
