"""The repair sweep: resolves the changes left between PostgreSQL and Cassandra by processes
that died (or by Cassandra not answering). Every API process on the Cassandra store runs it in
the background (`forever`, started by the composition root). Safe in several processes at once:
each completion is gated on deleting its intent (docs/data-plane.md)."""

from __future__ import annotations

import asyncio
import logging

from gochat.adapters.cassandra import (
    changes,
    pin_reaction_intents,
    pins,
    reactions,
    relational,
    sends,
)
from gochat.adapters.cassandra.timeline import Timeline
from gochat.adapters.postgres import database

# An intent this old belongs to a process that died (a live one finishes in a request timeout
# or two); the sweep looks every REPAIR_EVERY_SECONDS.
REPAIR_AFTER_SECONDS = 30.0
REPAIR_EVERY_SECONDS = 10.0
log = logging.getLogger(__name__)


async def once(timeline: Timeline, pg: database.Database, *, older_than_seconds: float) -> int:
    """Resolve the intents older than `older_than_seconds`; returns how many were resolved."""
    completed = 0
    for intent in await relational.stale_intents(pg, older_than_seconds=older_than_seconds):
        completed += await sends.finish(timeline, pg, intent)
    for edit in await relational.stale_changes(
        pg, relational.EDITS, older_than_seconds=older_than_seconds
    ):
        await changes.finish_edit(timeline, pg, edit)
        completed += 1
    for change in await pin_reaction_intents.stale(pg, older_than_seconds=older_than_seconds):
        finish = pins.finish if change.kind in ("pin", "unpin") else reactions.finish
        await finish(timeline, pg, change)
        completed += 1
    for deletion in await relational.stale_changes(
        pg, relational.DELETIONS, older_than_seconds=older_than_seconds
    ):
        await changes.finish_delete(timeline, pg, deletion)
        completed += 1
    return completed


async def forever(
    timeline: Timeline, pg: database.Database, *, every: float = REPAIR_EVERY_SECONDS
) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            if completed := await once(timeline, pg, older_than_seconds=REPAIR_AFTER_SECONDS):
                log.warning("finished interrupted changes", extra={"count": completed})
        except Exception:  # the next round retries; the service stays up
            log.exception("message intent repair failed")
