"""The caller's profile, other users, and direct-message channels."""

from __future__ import annotations

from gochat.api import models
from gochat.api.context import ApiContext
from gochat.api.services import emit
from gochat.core import errors, schemas


async def get_user(ctx: ApiContext, *, user_id: int) -> schemas.User:
    async with ctx.directory.read("get_user") as tx:
        user = await tx.get_user(user_id)
    if user is None:
        raise errors.NotFound("unknown user", details={"user_id": str(user_id)})
    return user


async def update_profile(
    ctx: ApiContext, *, user_id: int, body: models.ProfileUpdate
) -> schemas.User:
    changes = body.model_dump(exclude_unset=True)
    async with ctx.directory.transaction("update_profile") as tx:
        user = await tx.update_profile(user_id, changes)
        if user is None:
            raise errors.NotFound("unknown user")
        if changes:
            await tx.emit([emit.user_event(ctx, "USER_UPDATE", user, user_id=user_id)])
    return user


async def open_dm(ctx: ApiContext, *, user_id: int, recipient_id: int) -> schemas.Channel:
    """The DM channel between two users, created on first use (the same one on every call).
    Only while they share a guild: nobody is written to by a stranger."""
    if recipient_id == user_id:
        raise errors.ValidationFailed.for_field("recipient_id", "cannot open a DM with yourself")
    low, high = sorted((user_id, recipient_id))
    dm_key = f"{low}:{high}"
    async with ctx.directory.transaction("open_dm") as tx:
        if await tx.get_user(recipient_id) is None:
            raise errors.NotFound("unknown user", details={"recipient_id": str(recipient_id)})
        if not await tx.share_a_guild(user_id, recipient_id):
            raise errors.Forbidden(
                "you can open a DM only with a user who shares a guild with you",
                details={"recipient_id": str(recipient_id)},
            )
        existing = await tx.find_dm(dm_key)
        if existing:
            return existing
        channel_id = ctx.ids.next_id()
        if await tx.insert_dm(channel_id=channel_id, dm_key=dm_key, user_ids=[low, high]):
            channel = await tx.get_channel(channel_id)
            assert channel is not None
            await tx.emit(
                [
                    emit.dm_event(
                        ctx,
                        "CHANNEL_CREATE",
                        channel,
                        channel_id=channel_id,
                        recipient_ids=[low, high],
                    )
                ]
            )
            return channel
    # A concurrent request created it between our lookup and insert.
    async with ctx.directory.read("open_dm_existing") as tx:
        raced = await tx.find_dm(dm_key)
    assert raced is not None
    return raced


async def my_dms(ctx: ApiContext, *, user_id: int) -> list[schemas.Channel]:
    async with ctx.directory.read("list_my_dms") as tx:
        return await tx.dm_channels_of(user_id)
