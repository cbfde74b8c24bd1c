"""The PostgreSQL half of a pin, unpin or reaction change on the Cassandra store.

Each change is recorded here before its Cassandra write (`record`), and its events are queued
by the one statement that deletes the intent (`done`), so they are queued once even when the
change is finished twice (the owner and the repair sweep, or two sweeps). At most one change per
pin of a message, and per user's reaction with one emoji, is in flight: a second one waits for
the first, so the sweep never replays a change over a later one (docs/data-plane.md).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from gochat import ports
from gochat.adapters.cassandra import relational
from gochat.adapters.postgres import database, outbox
from gochat.core import errors
from gochat.core import events as domain_events
from gochat.core.events import Event

# How long a change waits for another change of the same pin or reaction to finish.
IN_FLIGHT_WAIT_SECONDS = 2.0
Kind = Literal["pin", "unpin", "react", "unreact"]


@dataclass(frozen=True, kw_only=True)
class Intent:
    """`pinned_at`: a pin's new time or the time an unpin removes; `reacted_at`: the timeuuid of
    the reaction row an add writes or a remove removes. They tell a change the sweep finds
    already applied (by its dead owner) from someone else's."""

    kind: Kind
    message: ports.MessageRecord
    events: Sequence[Event]
    user_id: int = 0  # pins: 0
    emoji: str = ""  # pins: ''
    pinned_at: datetime | None = None
    reacted_at: uuid.UUID | None = None
    id: int = 0  # set once recorded


async def record(db: database.Database, intent: Intent) -> int:
    """Write the intent; returns its id. Waits while another change of the same pin or reaction
    is in flight, up to IN_FLIGHT_WAIT_SECONDS, then raises `errors.Conflict`."""
    deadline = asyncio.get_running_loop().time() + IN_FLIGHT_WAIT_SECONDS
    while True:
        async with db.connection(f"record_{intent.kind}_intent") as conn:
            intent_id: int | None = await conn.fetchval(
                """INSERT INTO pin_reaction_intents (message_id, user_id, emoji, kind, record,
                       pinned_at, reacted_at, events)
                   VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)
                   ON CONFLICT (message_id, user_id, emoji) DO NOTHING RETURNING id""",
                intent.message.id,
                intent.user_id,
                intent.emoji,
                intent.kind,
                json.dumps(relational.record_to_json(intent.message)),
                intent.pinned_at,
                intent.reacted_at,
                [event.model_dump_json().encode() for event in intent.events],
            )
        if intent_id is not None:
            return intent_id
        if asyncio.get_running_loop().time() >= deadline:
            raise errors.Conflict("another change of this pin or reaction is in flight; retry")
        await asyncio.sleep(0.02)


_DONE = f"""
WITH done AS (DELETE FROM pin_reaction_intents WHERE id = $1 RETURNING id),
{outbox.queue_ctes(first=2, gate="done")}
SELECT {outbox.WAKE_RELAY}"""


async def done(db: database.Database, intent_id: int, events: Sequence[Event]) -> None:
    """Drop the intent and queue the events, once: nothing is queued if it was already gone."""
    async with db.connection("pin_reaction_done") as conn:
        await conn.execute(_DONE, intent_id, *outbox.queue_arguments(events))


async def drop(db: database.Database, intent_id: int) -> None:
    """Forget a change that did not happen (no change to make, or someone else's won)."""
    async with db.connection("drop_pin_reaction_intent") as conn:
        await conn.execute("DELETE FROM pin_reaction_intents WHERE id = $1", intent_id)


async def stale(
    db: database.Database, *, older_than_seconds: float, limit: int = 100
) -> list[Intent]:
    """Intents older than `older_than_seconds`: their owner is gone or stuck."""
    rows = await db.fetch(
        "stale_pin_reaction_intents",
        """SELECT id, kind, record, events, user_id, emoji, pinned_at, reacted_at
             FROM pin_reaction_intents
            WHERE created_at < now() - make_interval(secs => $1)
            ORDER BY created_at LIMIT $2""",
        older_than_seconds,
        limit,
    )
    return [
        Intent(
            id=row["id"],
            kind=row["kind"],
            message=relational.record_from_json(json.loads(row["record"])),
            events=[domain_events.parse(bytes(raw)) for raw in row["events"]],
            user_id=row["user_id"],
            emoji=row["emoji"],
            pinned_at=row["pinned_at"],
            reacted_at=row["reacted_at"],
        )
        for row in rows
    ]
