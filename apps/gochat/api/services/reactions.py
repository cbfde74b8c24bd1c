"""Pins and reactions on messages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from gochat.api.context import ApiContext
from gochat.api.services import messages
from gochat.core import errors, events, schemas
from gochat.core.permissions import Permission
from gochat.ports import MessageRecord

MAX_PINS = 50
_HISTORY = Permission.VIEW_CHANNEL | Permission.READ_MESSAGE_HISTORY


async def set_pinned(
    ctx: ApiContext, *, channel_id: int, message_id: int, user_id: int, pinned: bool
) -> None:
    target = await messages.open_channel(
        ctx, channel_id=channel_id, user_id=user_id, needed=_HISTORY | Permission.MANAGE_MESSAGES
    )
    record = await messages.existing(ctx, channel_id, message_id)
    if (record.pinned_at is not None) == pinned:
        return  # already in the requested state: idempotent, no event
    if pinned and len(await ctx.messages.pinned(channel_id)) >= MAX_PINS:
        raise errors.Conflict(f"a channel holds at most {MAX_PINS} pins")
    change = events.PinsUpdated(channel_id=channel_id, message_id=message_id, pinned=pinned)
    await ctx.messages.set_pinned(
        record,
        pinned_at=datetime.now(UTC) if pinned else None,
        events=[target.event(ctx, "CHANNEL_PINS_UPDATE", change)],
    )


async def list_pins(ctx: ApiContext, *, channel_id: int, user_id: int) -> list[schemas.Message]:
    await messages.open_channel(ctx, channel_id=channel_id, user_id=user_id, needed=_HISTORY)
    return await messages.to_schema(ctx, await ctx.messages.pinned(channel_id), viewer_id=user_id)


def _check_emoji(emoji: str) -> str:
    if not 1 <= len(emoji) <= 64 or any(ch.isspace() for ch in emoji):
        raise errors.ValidationFailed.for_field("emoji", "1-64 characters without spaces")
    return emoji


async def add_reaction(
    ctx: ApiContext, *, channel_id: int, message_id: int, user_id: int, emoji: str
) -> None:
    await _change_reaction(
        ctx,
        channel_id=channel_id,
        message_id=message_id,
        caller_id=user_id,
        reactor_id=user_id,
        emoji=emoji,
        needed=_HISTORY | Permission.ADD_REACTIONS,
        event_type="MESSAGE_REACTION_ADD",
        store=ctx.messages.add_reaction,
    )


async def remove_reaction(
    ctx: ApiContext,
    *,
    channel_id: int,
    message_id: int,
    user_id: int,
    emoji: str,
    reactor_id: int,
) -> None:
    """Remove the caller's reaction, or another user's with MANAGE_MESSAGES."""
    await _change_reaction(
        ctx,
        channel_id=channel_id,
        message_id=message_id,
        caller_id=user_id,
        reactor_id=reactor_id,
        emoji=emoji,
        needed=_HISTORY if reactor_id == user_id else _HISTORY | Permission.MANAGE_MESSAGES,
        event_type="MESSAGE_REACTION_REMOVE",
        store=ctx.messages.remove_reaction,
    )


class _ReactionWrite(Protocol):
    """`MessageStore.add_reaction` or `remove_reaction`."""

    async def __call__(
        self, message: MessageRecord, *, emoji: str, user_id: int, events: Sequence[events.Event]
    ) -> bool: ...


async def _change_reaction(
    ctx: ApiContext,
    *,
    channel_id: int,
    message_id: int,
    caller_id: int,
    reactor_id: int,
    emoji: str,
    needed: Permission,
    event_type: str,
    store: _ReactionWrite,
) -> None:
    _check_emoji(emoji)
    target = await messages.open_channel(
        ctx, channel_id=channel_id, user_id=caller_id, needed=needed
    )
    record = await messages.existing(ctx, channel_id, message_id)
    change = events.ReactionChanged(
        message_id=message_id,
        channel_id=channel_id,
        guild_id=target.access.guild_id,
        user_id=reactor_id,
        emoji=emoji,
    )
    await store(
        record, emoji=emoji, user_id=reactor_id, events=[target.event(ctx, event_type, change)]
    )


async def reaction_users(
    ctx: ApiContext,
    *,
    channel_id: int,
    message_id: int,
    user_id: int,
    emoji: str,
    after: int | None,
    limit: int,
) -> list[schemas.User]:
    _check_emoji(emoji)
    await messages.open_channel(ctx, channel_id=channel_id, user_id=user_id, needed=_HISTORY)
    await messages.existing(ctx, channel_id, message_id)
    user_ids = await ctx.messages.reaction_users(message_id, emoji=emoji, after=after, limit=limit)
    async with ctx.directory.read("reaction_users") as tx:
        users = await tx.get_users(user_ids)
    return [users[uid] for uid in user_ids if uid in users]
