"""Reactions on the Cassandra store: one row per (message, emoji, user), read per message.

An add or a remove is recorded as an intent in PostgreSQL first (pin_reaction_intents.py), then
written with a conditional statement, then its events are queued by the statement that drops
the intent. One left midway is finished by the repair sweep (`finish`): the row's timeuuid,
chosen by the change and kept in its intent, tells a row its dead owner wrote from another."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from cassandra.util import uuid_from_time

from gochat import ports
from gochat.adapters import paging
from gochat.adapters.cassandra import pin_reaction_intents
from gochat.adapters.cassandra.timeline import Timeline, not_found
from gochat.adapters.postgres import database
from gochat.core import events as domain_events


async def add(
    timeline: Timeline,
    pg: database.Database,
    message: ports.MessageRecord,
    *,
    emoji: str,
    user_id: int,
    events: Sequence[domain_events.Event],
) -> bool:
    """True when added, False when the user had reacted so already (no events then)."""
    if await timeline.get(message.channel_id, message.id) is None:
        raise not_found(message)
    intent = pin_reaction_intents.Intent(
        kind="react",
        message=message,
        events=events,
        user_id=user_id,
        emoji=emoji,
        reacted_at=uuid_from_time(time.time()),
    )
    intent_id = await pin_reaction_intents.record(pg, intent)
    added = await _add(timeline, intent)
    await _conclude(pg, intent_id, events, changed=added)
    return added


async def remove(
    timeline: Timeline,
    pg: database.Database,
    message: ports.MessageRecord,
    *,
    emoji: str,
    user_id: int,
    events: Sequence[domain_events.Event],
) -> bool:
    """True when removed, False when there was no such reaction (no events then)."""
    found = await timeline.db.run("get_reaction", args=(message.id, emoji, user_id))
    if not found:
        return False
    intent = pin_reaction_intents.Intent(
        kind="unreact",
        message=message,
        events=events,
        user_id=user_id,
        emoji=emoji,
        reacted_at=found[0]["reacted_at"],
    )
    intent_id = await pin_reaction_intents.record(pg, intent)
    removed = await _remove(timeline, intent, replay=False)
    await _conclude(pg, intent_id, events, changed=removed)
    return removed


async def finish(
    timeline: Timeline, pg: database.Database, intent: pin_reaction_intents.Intent
) -> None:
    """Finish a reaction change whose owner died: write it again (a no-op when applied) and
    queue its events only if it is the one in place (or the one removed)."""
    if intent.kind == "unreact":
        changed = await _remove(timeline, intent, replay=True)
    elif await timeline.get(intent.message.channel_id, intent.message.id) is None:
        # Deleted since (announced): no reaction on it, not even this one's orphan row.
        await _remove(timeline, intent, replay=False)
        changed = False
    else:
        changed = await _add(timeline, intent)
    await _conclude(pg, intent.id, intent.events, changed=changed)


async def _add(timeline: Timeline, intent: pin_reaction_intents.Intent) -> bool:
    """True when the intent's row is in place: written now, or already (a replay)."""
    key = (intent.message.id, intent.emoji, intent.user_id)
    [row] = await timeline.db.run("add_reaction", args=(*key, intent.reacted_at))
    return bool(row["[applied]"]) or row.get("reacted_at") == intent.reacted_at


async def _remove(timeline: Timeline, intent: pin_reaction_intents.Intent, *, replay: bool) -> bool:
    """True when the intent's row was removed: now, or (a replay) before its owner died. No
    other change of this reaction can have come in between: one is in flight at a time."""
    key = (intent.message.id, intent.emoji, intent.user_id)
    [row] = await timeline.db.run("remove_reaction", args=(*key, intent.reacted_at))
    if row["[applied]"]:
        return True
    message = intent.message
    return replay and await timeline.get(message.channel_id, message.id) is not None


async def _conclude(
    pg: database.Database, intent_id: int, events: Sequence[domain_events.Event], *, changed: bool
) -> None:
    if changed:
        await pin_reaction_intents.done(pg, intent_id, events)
    else:
        await pin_reaction_intents.drop(pg, intent_id)


async def summaries(
    timeline: Timeline, message_ids: Sequence[int], *, viewer_id: int
) -> dict[int, list[ports.ReactionSummary]]:
    """Only messages with reactions appear; emojis in the order they were first used."""
    if not message_ids:
        return {}
    found = await timeline.db.run("list_reactions", args=(list(dict.fromkeys(message_ids)),))
    # message -> emoji -> [count, me, first reaction's timeuuid]
    tally: dict[int, dict[str, list[Any]]] = {}
    for row in found:
        entry = tally.setdefault(row["message_id"], {}).setdefault(
            row["emoji"], [0, False, row["reacted_at"]]
        )
        entry[0] += 1
        entry[1] = entry[1] or row["user_id"] == viewer_id
        if (row["reacted_at"].time, row["reacted_at"].bytes) < (entry[2].time, entry[2].bytes):
            entry[2] = row["reacted_at"]
    return {
        message_id: [
            ports.ReactionSummary(emoji=emoji, count=count, me=me)
            for emoji, (count, me, _) in sorted(
                emojis.items(), key=lambda item: (item[1][2].time, item[1][2].bytes, item[0])
            )
        ]
        for message_id, emojis in tally.items()
    }


async def users(
    timeline: Timeline, message_id: int, *, emoji: str, after: int | None, limit: int
) -> list[int]:
    """User ids in ascending order, those greater than `after`."""
    paging.check_page(limit=limit, anchors={"after": after})
    found = await timeline.db.run("reaction_users", args=(message_id, emoji, after or 0, limit))
    return [row["user_id"] for row in found]
