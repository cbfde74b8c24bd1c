"""Sending a message to the Cassandra store: intent, timeline, completion.

A send records an intent in PostgreSQL, writes the timeline, then completes in PostgreSQL
(events, `last_message_id`, mention counts; relational.py). A failure takes the message back
out before the error is raised; a process that dies midway leaves the intent, which the repair
sweep completes (`finish`), so a send is never lost nor announced without being in history
(docs/data-plane.md, "Consistency across the two stores").
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from gochat import ports
from gochat.adapters.cassandra import relational
from gochat.adapters.cassandra.timeline import Timeline
from gochat.adapters.postgres import database
from gochat.core import events as domain_events

log = logging.getLogger(__name__)


async def create(
    timeline: Timeline,
    pg: database.Database,
    message: ports.MessageRecord,
    *,
    events: Sequence[domain_events.Event],
    mention_reader_ids: Sequence[int],
) -> None:
    """Intent, timeline, completion (the events, `last_message_id`, mention counts, exactly
    once). Any failure takes the message back out and forgets the intent before raising."""
    await relational.record_intent(
        pg, message, events=events, mention_reader_ids=mention_reader_ids
    )
    try:
        await timeline.write(message)
    except ports.DuplicateNonce:
        await relational.drop_intent(pg, message.id)  # nothing of ours was written
        raise
    except BaseException:
        await take_back(timeline, pg, message)
        raise
    try:
        await relational.message_sent(
            pg,
            message_id=message.id,
            channel_id=message.channel_id,
            mention_reader_ids=mention_reader_ids,
            events=events,
        )
    except BaseException:
        # Not announced, so not kept.
        await take_back(timeline, pg, message)
        raise


async def finish(timeline: Timeline, pg: database.Database, intent: relational.Intent) -> bool:
    """Resolve a send left between the two stores; False when it turned out never sent or is
    not resolved yet (Cassandra still away). One whose process died is written again
    (idempotent: same id, same values, same write time) and completed; one that failed with an
    answer but could not be taken back out (abandoned) is removed."""
    if intent.abandoned:  # the client was told it failed: remove, never complete
        return await take_back(timeline, pg, intent.message)
    try:
        await timeline.write(intent.message)
    except ports.DuplicateNonce:  # its nonce went to another message: never sent
        await relational.drop_intent(pg, intent.message.id)
        return False
    await relational.message_sent(
        pg,
        message_id=intent.message.id,
        channel_id=intent.message.channel_id,
        mention_reader_ids=intent.mention_reader_ids,
        events=intent.events,
    )
    return True


async def take_back(
    timeline: Timeline, pg: database.Database, message: ports.MessageRecord
) -> bool:
    """Remove what a failed send may have written; False when Cassandra could not be reached
    for that either: the intent is then marked abandoned and the sweep removes it later."""
    try:
        await timeline.take_out(message)
    except Exception:
        log.warning("send taken back later", extra={"message_id": message.id})
        await relational.abandon_intent(pg, message.id)
        return False
    await relational.drop_intent(pg, message.id)
    return True
