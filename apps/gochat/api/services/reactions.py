"""Pins and reactions on messages."""

from __future__ import annotations

from datetime import UTC, datetime

from gochat.api.context import ApiContext
from gochat.api.services import messages
from gochat.core import errors, events, schemas
from gochat.core.permissions import Permission

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
    _check_emoji(emoji)
    target = await messages.open_channel(
        ctx, channel_id=channel_id, user_id=user_id, needed=_HISTORY | Permission.ADD_REACTIONS
    )
    record = await messages.existing(ctx, channel_id, message_id)
    change = events.ReactionChanged(
        message_id=message_id,
        channel_id=channel_id,
        guild_id=target.access.guild_id,
        user_id=user_id,
        emoji=emoji,
    )
    await ctx.messages.add_reaction(
        record,
        emoji=emoji,
        user_id=user_id,
        events=[target.event(ctx, "MESSAGE_REACTION_ADD", change)],
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
    _check_emoji(emoji)
    needed = _HISTORY if reactor_id == user_id else _HISTORY | Permission.MANAGE_MESSAGES
    target = await messages.open_channel(ctx, channel_id=channel_id, user_id=user_id, needed=needed)
    record = await messages.existing(ctx, channel_id, message_id)
    change = events.ReactionChanged(
        message_id=message_id,
        channel_id=channel_id,
        guild_id=target.access.guild_id,
        user_id=reactor_id,
        emoji=emoji,
    )
    await ctx.messages.remove_reaction(
        record,
        emoji=emoji,
        user_id=reactor_id,
        events=[target.event(ctx, "MESSAGE_REACTION_REMOVE", change)],
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
