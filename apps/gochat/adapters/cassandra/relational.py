"""The PostgreSQL half of a message change when timelines live in Cassandra.

PostgreSQL stays the system of record for channels and read states and holds the outbox, so
a send still moves the channel's `last_message_id`, counts the mentioned readers' unread
mentions and queues the events; here in one statement (one transaction), after the message is
in Cassandra. docs/data-plane.md says what happens when a process dies between the two.
"""

from __future__ import annotations

from collections.abc import Sequence

from gochat.adapters.postgres import database, outbox, read_states
from gochat.core.events import Event

_COUNT_MENTIONS = read_states.count_mentions_cte(
    name="mentioned", readers="$3", source="sent", gate="bump_done"
)
# Lock order as the PostgreSQL store's send: channel row, read states, outbox scope lock.
_SENT = f"""
WITH sent AS (SELECT $1::bigint AS id, $2::bigint AS channel_id),
bumped AS (
    UPDATE channels SET last_message_id = sent.id FROM sent
    WHERE channels.id = sent.channel_id
      AND (channels.last_message_id IS NULL OR channels.last_message_id < sent.id)
    RETURNING channels.id),
bump_done AS (SELECT count(*) FROM bumped),
{_COUNT_MENTIONS},
mentions_done AS (SELECT count(*) FROM mentioned),
{outbox.queue_ctes(first=4, gate="sent, bump_done, mentions_done")}
SELECT {outbox.WAKE_RELAY}"""


async def message_sent(
    db: database.Database,
    *,
    message_id: int,
    channel_id: int,
    mention_reader_ids: Sequence[int],
    events: Sequence[Event],
) -> None:
    async with db.connection("message_sent") as conn:
        await conn.execute(
            _SENT,
            message_id,
            channel_id,
            sorted(set(mention_reader_ids)),
            *outbox.queue_arguments(events),
        )


async def record(db: database.Database, name: str, events: Sequence[Event]) -> None:
    """Queue the events of a change already made in Cassandra (`name` labels the round trip)."""
    if not events:
        return
    async with db.transaction(name) as conn:
        await outbox.append(conn, events)
