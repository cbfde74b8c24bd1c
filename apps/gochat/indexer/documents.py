"""What an event means for the search index: a document to upsert, a message id to delete, or a
deleted channel or guild whose documents go."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel

from gochat.core import events, schemas
from gochat.ports import SearchDocument


@dataclass
class Changes:
    """A batch's effect on the index, applied in this order: upserts, deletes, purges (so a
    message created and its channel deleted in one batch ends up gone)."""

    upserts: list[SearchDocument] = field(default_factory=list)
    deletes: list[int] = field(default_factory=list)
    purged_channels: list[int] = field(default_factory=list)
    purged_guilds: list[int] = field(default_factory=list)


def parse_changes(raw: bytes) -> Changes:
    """`changes_for(events.parse(raw))`, validating the payload once instead of twice (this is
    the indexer's hot path). Raises ValueError for anything `events.parse` would refuse."""
    event = events.Event.model_validate_json(raw)
    model = events.EVENT_PAYLOADS.get(event.type)
    if model is None:
        raise ValueError(f"unknown event type {event.type!r}")
    return _changes(event, model.model_validate(event.data))


def changes_for(event: events.Event) -> Changes:
    """The index change an event asks for; empty for types the index does not care about.

    The event id becomes the document version: events of one message come from one guild's or
    DM's outbox in commit order with increasing ids, so a larger id is the later state.
    """
    return _changes(event, events.payload_of(event))


def _changes(event: events.Event, payload: BaseModel) -> Changes:
    if isinstance(payload, schemas.Message) and event.type in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):
        return Changes(upserts=[document_of(payload, version=event.id)])
    if isinstance(payload, events.MessageDeleted):
        return Changes(deletes=[payload.id])
    if isinstance(payload, events.ChannelDeleted):
        return Changes(purged_channels=[payload.id])
    if isinstance(payload, events.GuildDeleted):
        return Changes(purged_guilds=[payload.id])
    return Changes()


def document_of(message: schemas.Message, *, version: int) -> SearchDocument:
    return SearchDocument(
        message_id=message.id,
        guild_id=message.guild_id,
        channel_id=message.channel_id,
        author_id=message.author.id,
        content=message.content,
        mention_ids=tuple(message.mention_ids),
        created_at=message.created_at,
        has_attachment=bool(message.attachments),
        version=version,
    )


def merge(parts: Sequence[Changes]) -> Changes:
    merged = Changes()
    for part in parts:
        merged.upserts += part.upserts
        merged.deletes += part.deletes
        merged.purged_channels += part.purged_channels
        merged.purged_guilds += part.purged_guilds
    return merged
