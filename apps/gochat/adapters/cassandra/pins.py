"""Pins on the Cassandra store: the message's `pinned_at` and the channel's pins list.

A pin or an unpin is recorded as an intent in PostgreSQL first (pin_reaction_intents.py), then
written with a conditional update, then its events are queued by the statement that drops the
intent. One left midway is finished by the repair sweep (`finish`): the pin time in the intent
tells a pin its dead owner applied from someone else's."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from gochat import ports
from gochat.adapters.cassandra import pin_reaction_intents, rows
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
    if pinned_at is not None:
        # Whole milliseconds, what Cassandra keeps: the sweep compares it with the stored one.
        pinned_at = pinned_at.replace(microsecond=pinned_at.microsecond // 1000 * 1000)
        intent = pin_reaction_intents.Intent(
            kind="pin", message=message, events=events, pinned_at=pinned_at
        )
        intent_id = await pin_reaction_intents.record(pg, intent)
        changed = await _pin(timeline, intent)
    else:
        current = await timeline.get(message.channel_id, message.id)
        if current is None:
            raise not_found(message)
        if current.pinned_at is None:
            return current
        intent = pin_reaction_intents.Intent(
            kind="unpin", message=current, events=events, pinned_at=current.pinned_at
        )
        intent_id = await pin_reaction_intents.record(pg, intent)
        changed = await _unpin(timeline, intent, replay=False)
    if changed:
        await pin_reaction_intents.done(pg, intent_id, events)
    else:
        await pin_reaction_intents.drop(pg, intent_id)
    stored = await timeline.get(message.channel_id, message.id)
    if stored is None:
        raise not_found(message)
    return stored


async def finish(
    timeline: Timeline, pg: database.Database, intent: pin_reaction_intents.Intent
) -> None:
    """Finish a pin or unpin whose owner died: write it again (a no-op when applied) and queue
    its events only if it is the pin time in place (or the one removed)."""
    if intent.kind == "pin":
        changed = await _pin(timeline, intent)
    else:
        changed = await _unpin(timeline, intent, replay=True)
    if changed:
        await pin_reaction_intents.done(pg, intent.id, intent.events)
    else:
        await pin_reaction_intents.drop(pg, intent.id)


async def _pin(timeline: Timeline, intent: pin_reaction_intents.Intent) -> bool:
    """True when the message carries the intent's pin time (now, or already: a replay)."""
    message, pinned_at = intent.message, intent.pinned_at
    # The pins list's row first: until the message carries this pin time the reader skips it,
    # so a pin cut short is never half-listed.
    pin = (message.channel_id, pinned_at, message.id)
    await timeline.db.run("add_pin", args=pin)
    [row] = await timeline.db.run(
        "pin_message", args=(pinned_at, *rows.key(message), message.author_id)
    )
    if row["[applied]"] or rows.utc(row.get("pinned_at")) == pinned_at:
        return True
    await timeline.db.run("remove_pin", args=pin)  # pinned already, or no such message
    return False


async def _unpin(timeline: Timeline, intent: pin_reaction_intents.Intent, *, replay: bool) -> bool:
    """True when the intent's pin time was removed: now, or (a replay) before its owner died.
    No other change of this pin can have come in between: one is in flight at a time."""
    message, pinned_at = intent.message, intent.pinned_at
    [row] = await timeline.db.run("unpin_message", args=(*rows.key(message), pinned_at))
    applied = row["[applied]"] or (
        replay and await timeline.get(message.channel_id, message.id) is not None
    )
    if not applied:  # changed by someone else, or deleted (its delete was announced)
        return False
    await timeline.db.run("remove_pin", args=(message.channel_id, pinned_at, message.id))
    return True


async def pinned(timeline: Timeline, channel_id: int) -> list[ports.MessageRecord]:
    """Most recently pinned first; a pin row its message no longer agrees with is skipped."""
    pins = await timeline.db.run("list_pins", args=(channel_id,))
    found = await asyncio.gather(*(timeline.get(channel_id, pin["message_id"]) for pin in pins))
    return [
        message
        for pin, message in zip(pins, found, strict=True)
        if message is not None and message.pinned_at == rows.utc(pin["pinned_at"])
    ]
