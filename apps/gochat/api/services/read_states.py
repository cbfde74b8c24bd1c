"""Read states: where each user stopped reading each channel. A change is announced to the
user's own sessions (READ_STATE_UPDATE), so every open client shows the same unread marks."""

from __future__ import annotations

from gochat.adapters.postgres import read_states
from gochat.api.context import ApiContext
from gochat.api.services import access, emit, messages
from gochat.core import events, schemas


async def acknowledge(
    ctx: ApiContext, *, channel_id: int, message_id: int, user_id: int, mention_count: int
) -> schemas.ReadState:
    """Mark `channel_id` read up to `message_id`; 404 for a channel the caller cannot view or
    a message not in it."""
    async with ctx.directory.read("ack_channel_access") as tx:
        await access.channel_access(tx, channel_id, user_id)
    await messages.existing(ctx, channel_id, message_id)
    async with ctx.directory.transaction("ack_message") as tx:
        state = await read_states.mark_read(
            tx.conn,
            user_id=user_id,
            channel_id=channel_id,
            message_id=message_id,
            mention_count=mention_count,
        )
        change = events.ReadStateUpdated(**state.model_dump())
        await tx.emit([emit.user_event(ctx, "READ_STATE_UPDATE", change, user_id=user_id)])
    return state


async def list_mine(ctx: ApiContext, *, user_id: int) -> list[schemas.ReadState]:
    async with ctx.directory.read("list_read_states") as tx:
        return await read_states.of_user(tx.conn, user_id)
