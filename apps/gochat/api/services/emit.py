"""Building events for the outbox: one place decides each event's scope and recipients."""

from __future__ import annotations

from pydantic import BaseModel

from gochat.api.context import ApiContext
from gochat.core import events


def guild_event(
    ctx: ApiContext,
    event_type: str,
    payload: BaseModel,
    *,
    guild_id: int,
    channel_id: int | None = None,
) -> events.Event:
    return events.build(
        event_type,
        payload,
        event_id=ctx.ids.next_id(),
        scope="guild",
        scope_id=guild_id,
        guild_id=guild_id,
        channel_id=channel_id,
    )


def dm_event(
    ctx: ApiContext,
    event_type: str,
    payload: BaseModel,
    *,
    channel_id: int,
    recipient_ids: list[int],
) -> events.Event:
    return events.build(
        event_type,
        payload,
        event_id=ctx.ids.next_id(),
        scope="dm",
        scope_id=channel_id,
        channel_id=channel_id,
        user_ids=recipient_ids,
    )


def user_event(
    ctx: ApiContext, event_type: str, payload: BaseModel, *, user_id: int
) -> events.Event:
    return events.build(
        event_type,
        payload,
        event_id=ctx.ids.next_id(),
        scope="user",
        scope_id=user_id,
        user_ids=[user_id],
    )
