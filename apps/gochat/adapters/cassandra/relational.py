"""The PostgreSQL half of a message change when timelines live in Cassandra.

PostgreSQL stays the system of record for channels and read states and holds the outbox, so
a send still moves the channel's `last_message_id`, counts the mentioned readers' unread
mentions and queues the events. A send is recorded as an intent first (`record_intent`), then
written to Cassandra, then completed (`message_sent`): one statement that deletes the intent and,
only if it deleted it, does the rest, so a completion that runs twice (the sender and the repair
sweep) counts and announces once. docs/data-plane.md, "Consistency across the two stores".
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gochat import ports
from gochat.adapters.postgres import database, outbox, read_states
from gochat.core import events as domain_events
from gochat.core.events import Event

_COUNT_MENTIONS = read_states.count_mentions_cte(
    name="mentioned", readers="$3", source="sent", gate="bump_done"
)
# Lock order as the PostgreSQL store's send: channel row, read states, outbox scope lock.
_SENT = f"""
WITH sent AS (
    DELETE FROM message_intents WHERE message_id = $1 AND channel_id = $2
    RETURNING message_id AS id, channel_id),
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


@dataclass(frozen=True)
class Intent:
    message: ports.MessageRecord
    events: list[Event]
    mention_reader_ids: list[int]
    abandoned: bool  # the sender answered with an error: take it back out, never complete it


async def record_intent(
    db: database.Database,
    message: ports.MessageRecord,
    *,
    events: Sequence[Event],
    mention_reader_ids: Sequence[int],
) -> None:
    async with db.connection("record_message_intent") as conn:
        await conn.execute(
            """INSERT INTO message_intents
                   (message_id, channel_id, record, events, mention_reader_ids)
               VALUES ($1, $2, $3::jsonb, $4, $5)""",
            message.id,
            message.channel_id,
            json.dumps(record_to_json(message)),
            [event.model_dump_json().encode() for event in events],
            sorted(set(mention_reader_ids)),
        )


async def drop_intent(db: database.Database, message_id: int) -> None:
    """Forget a send that will not happen (refused, or taken back out of Cassandra)."""
    async with db.connection("drop_message_intent") as conn:
        await conn.execute("DELETE FROM message_intents WHERE message_id = $1", message_id)


async def abandon_intent(db: database.Database, message_id: int) -> None:
    """Mark a send that failed but could not be taken back out: the sweep removes it."""
    async with db.connection("abandon_message_intent") as conn:
        await conn.execute(
            "UPDATE message_intents SET abandoned = true WHERE message_id = $1", message_id
        )


async def stale_intents(
    db: database.Database, *, older_than_seconds: float, limit: int = 100
) -> list[Intent]:
    """Intents older than `older_than_seconds`: their sender is gone or stuck."""
    rows = await db.fetch(
        "stale_message_intents",
        """SELECT record, events, mention_reader_ids, abandoned FROM message_intents
           WHERE created_at < now() - make_interval(secs => $1)
           ORDER BY created_at LIMIT $2""",
        older_than_seconds,
        limit,
    )
    return [
        Intent(
            message=record_from_json(json.loads(row["record"])),
            events=[domain_events.parse(bytes(raw)) for raw in row["events"]],
            mention_reader_ids=list(row["mention_reader_ids"]),
            abandoned=row["abandoned"],
        )
        for row in rows
    ]


@dataclass(frozen=True)
class Change:
    """A delete or an edit recorded before its Cassandra write (`message` as it will be)."""

    id: int
    message: ports.MessageRecord
    events: list[Event]
    previous_edited_at: datetime | None = None


# The intent tables of changes; the name is never taken from input.
DELETIONS, EDITS = "message_deletions", "message_edits"


def _done_statement(table: str) -> str:
    return f"""
WITH done AS (DELETE FROM {table} WHERE id = $1 RETURNING id),
{outbox.queue_ctes(first=2, gate="done")}
SELECT {outbox.WAKE_RELAY}"""


_DONE = {table: _done_statement(table) for table in (DELETIONS, EDITS)}


async def record_change(
    db: database.Database,
    table: str,
    message: ports.MessageRecord,
    *,
    events: Sequence[Event],
    previous_edited_at: datetime | None = None,
) -> int:
    """Write the change's intent; returns its id for `change_done`/`drop_change`."""
    extra = ", previous_edited_at" if table == EDITS else ""
    values = ", $4" if table == EDITS else ""
    args: list[object] = [
        message.id,
        json.dumps(record_to_json(message)),
        [event.model_dump_json().encode() for event in events],
    ]
    if table == EDITS:
        args.append(previous_edited_at)
    async with db.connection(f"record_{table}") as conn:
        change_id: int = await conn.fetchval(
            f"""INSERT INTO {table} (message_id, record, events{extra})
                VALUES ($1, $2::jsonb, $3{values}) RETURNING id""",
            *args,
        )
    return change_id


async def change_done(
    db: database.Database, table: str, change_id: int, events: Sequence[Event]
) -> None:
    """Drop the intent and queue the events, once: nothing is queued if it was already gone."""
    async with db.connection(f"{table}_done") as conn:
        await conn.execute(_DONE[table], change_id, *outbox.queue_arguments(events))


async def drop_change(db: database.Database, table: str, change_id: int) -> None:
    async with db.connection(f"drop_{table}") as conn:
        await conn.execute(f"DELETE FROM {table} WHERE id = $1", change_id)


async def stale_changes(
    db: database.Database, table: str, *, older_than_seconds: float, limit: int = 100
) -> list[Change]:
    previous = "previous_edited_at" if table == EDITS else "NULL AS previous_edited_at"
    rows = await db.fetch(
        f"stale_{table}",
        f"""SELECT id, record, events, {previous} FROM {table}
            WHERE created_at < now() - make_interval(secs => $1)
            ORDER BY created_at LIMIT $2""",
        older_than_seconds,
        limit,
    )
    return [
        Change(
            id=row["id"],
            message=record_from_json(json.loads(row["record"])),
            events=[domain_events.parse(bytes(raw)) for raw in row["events"]],
            previous_edited_at=row["previous_edited_at"],
        )
        for row in rows
    ]


def record_to_json(message: ports.MessageRecord) -> dict[str, Any]:
    values = dataclasses.asdict(message)
    for name in ("created_at", "pinned_at", "edited_at"):
        if values[name] is not None:
            values[name] = values[name].isoformat()
    return values


def record_from_json(values: dict[str, Any]) -> ports.MessageRecord:
    for name in ("created_at", "pinned_at", "edited_at"):
        if values[name] is not None:
            values[name] = datetime.fromisoformat(values[name])
    values["mention_ids"] = tuple(values["mention_ids"])
    values["attachments"] = tuple(
        ports.AttachmentRecord(**each) for each in values.get("attachments", ())
    )
    return ports.MessageRecord(**values)
