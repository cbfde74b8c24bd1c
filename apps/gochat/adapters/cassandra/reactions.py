"""Reactions on the Cassandra store: one row per (message, emoji, user), read per message."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gochat import ports
from gochat.adapters import paging
from gochat.adapters.cassandra import relational
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
    if await timeline.get(message.channel_id, message.id) is None:
        raise not_found(message)
    [row] = await timeline.db.run("add_reaction", args=(message.id, emoji, user_id))
    if row["[applied]"]:
        await relational.record(pg, "add_reaction", events)
    return bool(row["[applied]"])


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
    [row] = await timeline.db.run("remove_reaction", args=(message.id, emoji, user_id))
    if row["[applied]"]:
        await relational.record(pg, "remove_reaction", events)
    return bool(row["[applied]"])


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
