"""Guild lifecycle: create (creator becomes owner), read, update, delete, list mine."""

from __future__ import annotations

from gochat.api import models
from gochat.api.context import ApiContext
from gochat.api.services import access, emit
from gochat.core import errors, events, permissions, schemas
from gochat.core.permissions import Permission

DEFAULT_CHANNEL = "general"


async def create_guild(
    ctx: ApiContext, *, owner_id: int, body: models.GuildCreate
) -> schemas.Guild:
    guild_id = ctx.ids.next_id()
    channel_id = ctx.ids.next_id()
    async with ctx.directory.transaction("create_guild") as tx:
        guild = await tx.insert_guild(
            guild_id=guild_id,
            name=body.name,
            description=body.description,
            icon_url=body.icon_url,
            owner_id=owner_id,
        )
        # @everyone shares the guild's id, as in Discord, so it needs no lookup.
        await tx.insert_role(
            role_id=guild_id,
            guild_id=guild_id,
            name="@everyone",
            permissions=int(permissions.DEFAULT_EVERYONE),
            position=0,
        )
        member = await tx.insert_member(guild_id=guild_id, user_id=owner_id)
        await tx.insert_channel(
            channel_id=channel_id, guild_id=guild_id, channel_type="text", name=DEFAULT_CHANNEL
        )
        channel = await tx.get_channel(channel_id)
        assert member is not None and channel is not None
        await tx.emit(
            [
                emit.guild_event(ctx, "GUILD_CREATE", guild, guild_id=guild_id),
                emit.guild_event(ctx, "GUILD_MEMBER_ADD", member, guild_id=guild_id),
                emit.guild_event(
                    ctx, "CHANNEL_CREATE", channel, guild_id=guild_id, channel_id=channel_id
                ),
            ]
        )
    return guild


async def get_guild(ctx: ApiContext, *, guild_id: int, user_id: int) -> schemas.Guild:
    async with ctx.directory.read("get_guild") as tx:
        await access.guild_member(tx, guild_id, user_id)
        guild = await tx.get_guild(guild_id)
    if guild is None:
        raise errors.NotFound("unknown guild")
    return guild


async def update_guild(
    ctx: ApiContext, *, guild_id: int, user_id: int, body: models.GuildUpdate
) -> schemas.Guild:
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise errors.ValidationFailed.for_field("name", "cannot be null")
    async with ctx.directory.transaction("update_guild") as tx:
        await access.require_guild_permission(tx, guild_id, user_id, Permission.MANAGE_GUILD)
        if not changes:
            guild = await tx.get_guild(guild_id)
            assert guild is not None
            return guild
        guild = await tx.update_guild(guild_id, changes)
        await tx.emit([emit.guild_event(ctx, "GUILD_UPDATE", guild, guild_id=guild_id)])
    return guild


async def delete_guild(ctx: ApiContext, *, guild_id: int, user_id: int) -> None:
    async with ctx.directory.transaction("delete_guild") as tx:
        guild = await tx.get_guild(guild_id, for_update=True)
        if guild is None:
            raise errors.NotFound("unknown guild")
        if guild.owner_id != user_id:
            await access.guild_member(tx, guild_id, user_id)
            raise errors.Forbidden("only the owner can delete a guild")
        await tx.delete_guild(guild_id)
        await tx.emit(
            [
                emit.guild_event(
                    ctx, "GUILD_DELETE", events.GuildDeleted(id=guild_id), guild_id=guild_id
                )
            ]
        )


async def my_guilds(ctx: ApiContext, *, user_id: int) -> list[schemas.Guild]:
    async with ctx.directory.read("list_my_guilds") as tx:
        return await tx.guilds_of(user_id)
