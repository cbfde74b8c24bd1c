"""Guild channels and categories: create, read, update, delete, reorder, overwrites."""

from __future__ import annotations

from gochat.adapters.postgres.directory import DirectoryTx
from gochat.api import models
from gochat.api.context import ApiContext
from gochat.api.services import access, emit
from gochat.core import errors, events, permissions, schemas
from gochat.core.permissions import Permission


async def list_channels(ctx: ApiContext, *, guild_id: int, user_id: int) -> list[schemas.Channel]:
    """The guild's channels the caller can view (a hidden channel is simply absent)."""
    async with ctx.directory.read("list_channels") as tx:
        member = await access.guild_member(tx, guild_id, user_id)
        channels = await tx.list_channels(guild_id)
    return [c for c in channels if _can_view(member, c)]


def _can_view(member: permissions.MemberContext, channel: schemas.Channel) -> bool:
    overwrites = [permissions.Overwrite(o.id, o.type, o.allow, o.deny) for o in channel.overwrites]
    return bool(permissions.effective_permissions(member, overwrites) & Permission.VIEW_CHANNEL)


async def get_channel(ctx: ApiContext, *, channel_id: int, user_id: int) -> schemas.Channel:
    async with ctx.directory.read("get_channel") as tx:
        await access.channel_access(tx, channel_id, user_id)
        channel = await tx.get_channel(channel_id)
    assert channel is not None
    return channel


async def create_channel(
    ctx: ApiContext, *, guild_id: int, user_id: int, body: models.ChannelCreate
) -> schemas.Channel:
    channel_id = ctx.ids.next_id()
    async with ctx.directory.transaction("create_channel") as tx:
        if body.overwrites:  # their checks compare ranks: hold them still
            await tx.lock_guild_roles(guild_id)
        member = await access.require_guild_permission(
            tx, guild_id, user_id, Permission.MANAGE_CHANNELS
        )
        if body.parent_id is not None:
            await _check_parent(tx, guild_id, body.parent_id, channel_type=body.type)
        for ow in body.overwrites:
            await _check_overwrite(tx, member, ow.id, ow, before=None)
        position = body.position
        if position is None:
            position = await tx.next_channel_position(guild_id)
        await tx.insert_channel(
            channel_id=channel_id,
            guild_id=guild_id,
            channel_type=body.type,
            name=body.name,
            topic=body.topic,
            position=position,
            parent_id=body.parent_id,
        )
        for ow in body.overwrites:
            await tx.put_overwrite(
                channel_id=channel_id,
                target_id=ow.id,
                target_type=ow.type,
                allow=int(ow.allow),
                deny=int(ow.deny),
            )
        channel = await tx.get_channel(channel_id)
        assert channel is not None
        await tx.emit(
            [
                emit.guild_event(
                    ctx, "CHANNEL_CREATE", channel, guild_id=guild_id, channel_id=channel_id
                )
            ]
        )
    return channel


async def _check_parent(
    tx: DirectoryTx, guild_id: int, parent_id: int, *, channel_type: str
) -> None:
    if channel_type == "category":
        raise errors.ValidationFailed.for_field("parent_id", "a category cannot have a parent")
    parent = await tx.channel_guild(parent_id)
    if parent is None or parent != ("category", guild_id):
        raise errors.ValidationFailed.for_field("parent_id", "must be a category of this guild")


async def _check_overwrite(
    tx: DirectoryTx,
    actor: permissions.MemberContext,
    target_id: int,
    body: models.OverwriteBody,
    before: permissions.Overwrite | None,
) -> None:
    """Who may set this overwrite: the actor outranks its target (@everyone excepted) and
    holds, at guild level as in Discord, every bit it changes."""
    rank = await _target_rank(tx, actor.guild_id, target_id, body.type)
    if rank is None:
        raise errors.ValidationFailed.for_field("id", f"unknown {body.type}")
    _require_outranks(actor, target_id, body.type, rank)
    changed = int(body.allow) | int(body.deny)
    if before is not None:
        changed = (int(body.allow) ^ before.allow) | (int(body.deny) ^ before.deny)
    _require_holds(actor, changed)


async def _target_rank(
    tx: DirectoryTx, guild_id: int, target_id: int, target_type: str
) -> int | None:
    """An overwrite target's place in the hierarchy; None when no such role or member."""
    if target_type == "role":
        role = await tx.get_role(guild_id, target_id)
        return None if role is None else role.position
    member = await tx.member_context(guild_id, target_id)
    return None if member is None else member.highest_position


def _require_outranks(
    actor: permissions.MemberContext, target_id: int, target_type: str, rank: int
) -> None:
    if target_type == "role" and target_id == actor.guild_id:
        return  # @everyone sits below every member
    access.require_outranks(actor, rank, what=f"{target_type}s")


def _require_holds(actor: permissions.MemberContext, bits: int) -> None:
    # Nobody grants, denies or takes back in an overwrite what they do not hold themselves.
    beyond = bits & ~int(permissions.guild_permissions(actor))
    if beyond:
        raise errors.MissingPermission(permissions.names(beyond)[0])


async def update_channel(
    ctx: ApiContext, *, channel_id: int, user_id: int, body: models.ChannelUpdate
) -> schemas.Channel:
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise errors.ValidationFailed.for_field("name", "cannot be null")
    async with ctx.directory.transaction("update_channel") as tx:
        channel = await _managed_channel(tx, channel_id, user_id)
        if changes.get("parent_id") is not None:
            assert channel.guild_id is not None
            await _check_parent(
                tx, channel.guild_id, changes["parent_id"], channel_type=channel.type
            )
        await tx.update_channel(channel_id, changes)
        updated = await tx.get_channel(channel_id)
        assert updated is not None
        if changes:
            await tx.emit(
                [
                    emit.guild_event(
                        ctx,
                        "CHANNEL_UPDATE",
                        updated,
                        guild_id=channel.guild_id or 0,
                        channel_id=channel_id,
                    )
                ]
            )
    return updated


async def _managed_channel(tx: DirectoryTx, channel_id: int, user_id: int) -> schemas.Channel:
    found = await access.channel_access(tx, channel_id, user_id)
    if found.guild_id is None:
        raise errors.BadRequest("direct-message channels cannot be edited")
    found.require(Permission.MANAGE_CHANNELS)
    channel = await tx.get_channel(channel_id)
    assert channel is not None
    return channel


async def delete_channel(ctx: ApiContext, *, channel_id: int, user_id: int) -> None:
    async with ctx.directory.transaction("delete_channel") as tx:
        channel = await _managed_channel(tx, channel_id, user_id)
        await tx.delete_channel(channel_id)
        await tx.emit(
            [
                emit.guild_event(
                    ctx,
                    "CHANNEL_DELETE",
                    events.ChannelDeleted(id=channel_id, guild_id=channel.guild_id),
                    guild_id=channel.guild_id or 0,
                    channel_id=channel_id,
                )
            ]
        )


async def reorder_channels(
    ctx: ApiContext, *, guild_id: int, user_id: int, changes: list[models.PositionChange]
) -> list[schemas.Channel]:
    positions = {change.id: change.position for change in changes}
    if len(positions) != len(changes):
        raise errors.ValidationFailed.for_field("id", "each channel may appear once")
    async with ctx.directory.transaction("reorder_channels") as tx:
        member = await access.require_guild_permission(
            tx, guild_id, user_id, Permission.MANAGE_CHANNELS
        )
        existing = {c.id for c in await tx.list_channels(guild_id)}
        unknown = [cid for cid in positions if cid not in existing]
        if unknown:
            raise errors.ValidationFailed.for_field("id", f"unknown channel {unknown[0]}")
        await tx.set_channel_positions(guild_id, positions)
        channels = await tx.list_channels(guild_id)
        await tx.emit(
            [
                emit.guild_event(ctx, "CHANNEL_UPDATE", c, guild_id=guild_id, channel_id=c.id)
                for c in channels
                if c.id in positions
            ]
        )
    return [c for c in channels if _can_view(member, c)]


async def put_overwrite(
    ctx: ApiContext,
    *,
    channel_id: int,
    user_id: int,
    target_id: int,
    body: models.OverwriteBody,
) -> schemas.Channel:
    async with ctx.directory.transaction("put_overwrite") as tx:
        found = await _overwrite_manager(tx, channel_id, user_id)
        assert found.member is not None and found.guild_id is not None
        before = await _existing_overwrite(tx, channel_id, target_id)
        await _check_overwrite(tx, found.member, target_id, body, before)
        await tx.put_overwrite(
            channel_id=channel_id,
            target_id=target_id,
            target_type=body.type,
            allow=int(body.allow),
            deny=int(body.deny),
        )
        channel = await tx.get_channel(channel_id)
        assert channel is not None
        await tx.emit(
            [
                emit.guild_event(
                    ctx, "CHANNEL_UPDATE", channel, guild_id=found.guild_id, channel_id=channel_id
                )
            ]
        )
    return channel


async def _overwrite_manager(
    tx: DirectoryTx, channel_id: int, user_id: int
) -> access.ChannelAccess:
    """The caller's access to a guild channel, with MANAGE_ROLES there, read under the guild's
    role lock (so a concurrent role reorder cannot change the ranks the checks compare)."""
    located = await tx.channel_guild(channel_id)
    if located is not None and located[1] is not None:
        await tx.lock_guild_roles(located[1])
    found = await access.channel_access(tx, channel_id, user_id)
    if found.guild_id is None or found.member is None:
        raise errors.BadRequest("direct-message channels have no overwrites")
    found.require(Permission.MANAGE_ROLES)
    return found


async def _existing_overwrite(
    tx: DirectoryTx, channel_id: int, target_id: int
) -> permissions.Overwrite | None:
    overwrites = await tx.channel_overwrites(channel_id)
    return next((ow for ow in overwrites if ow.target_id == target_id), None)


async def delete_overwrite(
    ctx: ApiContext, *, channel_id: int, user_id: int, target_id: int
) -> None:
    async with ctx.directory.transaction("delete_overwrite") as tx:
        found = await _overwrite_manager(tx, channel_id, user_id)
        assert found.member is not None and found.guild_id is not None
        before = await _existing_overwrite(tx, channel_id, target_id)
        if before is None:
            raise errors.NotFound("unknown overwrite", details={"target_id": str(target_id)})
        rank = await _target_rank(tx, found.guild_id, target_id, before.target_type)
        if rank is not None:  # an overwrite left by a member who has gone ranks nobody
            _require_outranks(found.member, target_id, before.target_type, rank)
        _require_holds(found.member, before.allow | before.deny)
        await tx.delete_overwrite(channel_id, target_id)
        channel = await tx.get_channel(channel_id)
        assert channel is not None
        await tx.emit(
            [
                emit.guild_event(
                    ctx, "CHANNEL_UPDATE", channel, guild_id=found.guild_id, channel_id=channel_id
                )
            ]
        )
