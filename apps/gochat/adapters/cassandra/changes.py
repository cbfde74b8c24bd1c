"""Edits and deletes on the Cassandra store: each is recorded as an intent in PostgreSQL
before its Cassandra write, and its events are queued by the statement that drops the intent.
A change left midway (a dead process, Cassandra not answering) is finished by the repair sweep
(`finish_edit`, `finish_delete`); an edit only onto the state it was made from."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

from gochat import ports
from gochat.adapters.cassandra import relational, rows
from gochat.adapters.cassandra.timeline import Timeline, not_found
from gochat.adapters.postgres import database
from gochat.core import events as domain_events


async def edit(
    timeline: Timeline,
    pg: database.Database,
    message: ports.MessageRecord,
    *,
    content: str,
    edited_at: datetime,
    mention_ids: tuple[int, ...],
    mention_everyone: bool,
    events: Sequence[domain_events.Event],
) -> ports.MessageRecord:
    edited = dataclasses.replace(
        message,
        content=content,
        edited_at=edited_at,
        mention_ids=mention_ids,
        mention_everyone=mention_everyone,
    )
    change = await relational.record_change(
        pg, relational.EDITS, edited, events=events, previous_edited_at=message.edited_at
    )
    # An empty frozen list is a value, not a tombstone: the old mentions are replaced.
    [row] = await timeline.db.run(
        "edit_message",
        args=(content, edited_at, list(mention_ids), mention_everyone, *rows.key(message)),
    )
    current = await timeline.get(message.channel_id, message.id) if row["[applied]"] else None
    if current is None:  # no such message, or deleted in between
        await relational.drop_change(pg, relational.EDITS, change)
        raise not_found(message)
    await relational.change_done(pg, relational.EDITS, change, events)
    return current


async def finish_edit(timeline: Timeline, pg: database.Database, change: relational.Change) -> None:
    """Apply an edit left midway unless the message changed since it was recorded (a later
    edit or a delete, already announced); record its events only if it is in place."""
    message = change.message
    [row] = await timeline.db.run(
        "replay_edit",
        args=(
            message.content,
            message.edited_at,
            list(message.mention_ids),
            message.mention_everyone,
            *rows.key(message),
            message.author_id,
            change.previous_edited_at,
        ),
    )
    if row["[applied]"] or rows.utc(row.get("edited_at")) == message.edited_at:
        await relational.change_done(pg, relational.EDITS, change.id, change.events)
    else:
        await relational.drop_change(pg, relational.EDITS, change.id)


async def delete(
    timeline: Timeline,
    pg: database.Database,
    message: ports.MessageRecord,
    *,
    events: Sequence[domain_events.Event],
) -> None:
    current = await timeline.get(message.channel_id, message.id)
    if current is None:
        raise not_found(message)
    deletion = await relational.record_change(pg, relational.DELETIONS, current, events=events)
    [row] = await timeline.db.run("delete_message", args=rows.key(message))
    if not row["[applied]"]:  # deleted by someone else in between
        await relational.drop_change(pg, relational.DELETIONS, deletion)
        raise not_found(message)
    await timeline.remove_what_goes_with(current)
    await relational.change_done(pg, relational.DELETIONS, deletion, events)


async def finish_delete(
    timeline: Timeline, pg: database.Database, deletion: relational.Change
) -> None:
    """Finish a delete left midway: the user asked for it, so it is completed, never undone."""
    await timeline.db.run("remove_message", args=rows.key(deletion.message))  # idempotent
    await timeline.remove_what_goes_with(deletion.message)
    await relational.change_done(pg, relational.DELETIONS, deletion.id, deletion.events)
