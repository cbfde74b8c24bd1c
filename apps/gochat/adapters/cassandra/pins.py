"""Pins on the Cassandra store: the message's `pinned_at` and the channel's pins list."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from gochat import ports
from gochat.adapters.cassandra import relational, rows
from gochat.adapters.cassandra.timeline import Timeline, not_found
from gochat.adapters.postgres import database
from gochat.core import events as domain_events


async def set_pinned(
    timeline: Timeline,
    pg: database.Database,
    message: ports.MessageRecord,
    *,
    pinned_at: datetime | None,
    events: Sequence[domain_events.Event],
) -> ports.MessageRecord:
    """Pinning a pinned message (or unpinning an unpinned one) keeps the stored pin time and
    writes no events."""
    db = timeline.db
    if pinned_at is not None:
        # The pins list's row first: until the message carries this pin time the reader
        # skips it, so a pin cut short is never half-listed.
        pin = (message.channel_id, pinned_at, message.id)
        await db.run("add_pin", args=pin)
        [row] = await db.run("pin_message", args=(pinned_at, *rows.key(message), message.author_id))
        changed = bool(row["[applied]"])
        if not changed:
            await db.run("remove_pin", args=pin)
    else:
        current = await timeline.get(message.channel_id, message.id)
        if current is None:
            raise not_found(message)
        changed = False
        if current.pinned_at is not None:
            [row] = await db.run("unpin_message", args=(*rows.key(message), current.pinned_at))
            changed = bool(row["[applied]"])
            if changed:
                await db.run("remove_pin", args=(message.channel_id, current.pinned_at, message.id))
    stored = await timeline.get(message.channel_id, message.id)
    if stored is None:
        raise not_found(message)
    if changed:
        await relational.record(pg, "set_message_pinned", events)
    return stored


async def pinned(timeline: Timeline, channel_id: int) -> list[ports.MessageRecord]:
    """Most recently pinned first; a pin row its message no longer agrees with is skipped."""
    pins = await timeline.db.run("list_pins", args=(channel_id,))
    found = await asyncio.gather(*(timeline.get(channel_id, pin["message_id"]) for pin in pins))
    return [
        message
        for pin, message in zip(pins, found, strict=True)
        if message is not None and message.pinned_at == rows.utc(pin["pinned_at"])
    ]
