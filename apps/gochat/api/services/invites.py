"""Invites: create (CREATE_INVITE in the channel), preview, accept, revoke."""

from __future__ import annotations

import secrets
from datetime import datetime

from pydantic import Field

from gochat.api import models
from gochat.api.context import ApiContext
from gochat.api.services import access, emit
from gochat.core import errors, events, permissions, schemas
from gochat.core.permissions import Permission

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"


def _new_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(10))


async def create_invite(
    ctx: ApiContext, *, channel_id: int, user_id: int, body: models.InviteCreate
) -> schemas.Invite:
    async with ctx.directory.transaction("create_invite") as tx:
        channel = await access.channel_access(tx, channel_id, user_id)
        if channel.guild_id is None:
            raise errors.BadRequest("direct-message channels have no invites")
        channel.require(Permission.CREATE_INVITE)
        invite = await tx.insert_invite(
            code=_new_code(),
            guild_id=channel.guild_id,
            channel_id=channel_id,
            inviter_id=user_id,
            max_uses=body.max_uses,
            max_age_seconds=body.max_age_seconds,
        )
        await tx.emit(
            [
                emit.guild_event(
                    ctx, "INVITE_CREATE", invite, guild_id=channel.guild_id, channel_id=channel_id
                )
            ]
        )
    return invite


class InviteGuild(schemas.Schema):
    id: schemas.Snowflake
    name: str
    icon_url: str | None = None
    member_count: int


class InviteChannel(schemas.Schema):
    id: schemas.Snowflake
    name: str | None = None
    type: schemas.ChannelType


class InvitePreview(schemas.Schema):
    """What anyone holding a code may see of an invite, before joining."""

    code: str
    guild: InviteGuild
    channel: InviteChannel | None = Field(
        default=None,
        description="The channel the invite leads to, only when @everyone can view it.",
    )
    inviter_id: schemas.Snowflake
    expires_at: datetime | None = None


async def get_invite(ctx: ApiContext, *, code: str, user_id: int) -> InvitePreview:
    """The invite's preview. A user banned from its guild gets the 404 of an unknown code."""
    async with ctx.directory.read("get_invite") as tx:
        invite = await tx.get_invite(code)
        if invite is None or await tx.is_banned(invite.guild_id, user_id):
            raise errors.NotFound("unknown, expired or used-up invite", details={"code": code})
        guild = await tx.get_guild(invite.guild_id)
        everyone = await tx.get_role(invite.guild_id, invite.guild_id)
        channel = None if invite.channel_id is None else await tx.get_channel(invite.channel_id)
        member_count = await tx.count_members(invite.guild_id)
    assert guild is not None and everyone is not None
    return InvitePreview(
        code=invite.code,
        guild=InviteGuild(
            id=guild.id, name=guild.name, icon_url=guild.icon_url, member_count=member_count
        ),
        channel=(
            InviteChannel(id=channel.id, name=channel.name, type=channel.type)
            if channel is not None and _everyone_can_view(guild, everyone, channel)
            else None
        ),
        inviter_id=invite.inviter_id,
        expires_at=invite.expires_at,
    )


def _everyone_can_view(
    guild: schemas.Guild, everyone: schemas.Role, channel: schemas.Channel
) -> bool:
    """Whether a member holding no role would see the channel (a hidden one stays unnamed)."""
    newcomer = permissions.MemberContext(
        user_id=0,
        guild_id=guild.id,
        owner_id=guild.owner_id,
        everyone=permissions.Role(everyone.id, everyone.permissions, 0),
        roles=[],
    )
    overwrites = [permissions.Overwrite(o.id, o.type, o.allow, o.deny) for o in channel.overwrites]
    return bool(permissions.effective_permissions(newcomer, overwrites) & Permission.VIEW_CHANNEL)


async def accept_invite(ctx: ApiContext, *, code: str, user_id: int) -> schemas.Member:
    async with ctx.directory.transaction("accept_invite") as tx:
        invite = await tx.get_invite(code)
        if invite is None:
            raise errors.NotFound("unknown, expired or used-up invite", details={"code": code})
        if await tx.is_banned(invite.guild_id, user_id):
            raise errors.Forbidden("you are banned from this guild")
        existing = await tx.get_member(invite.guild_id, user_id)
        if existing is not None:
            return existing
        if await tx.use_invite(code) is None:
            raise errors.NotFound("unknown, expired or used-up invite", details={"code": code})
        member = await tx.insert_member(guild_id=invite.guild_id, user_id=user_id)
        assert member is not None
        await tx.emit([emit.guild_event(ctx, "GUILD_MEMBER_ADD", member, guild_id=invite.guild_id)])
    return member


async def list_invites(ctx: ApiContext, *, guild_id: int, user_id: int) -> list[schemas.Invite]:
    async with ctx.directory.read("list_invites") as tx:
        await access.require_guild_permission(tx, guild_id, user_id, Permission.MANAGE_GUILD)
        return await tx.list_invites(guild_id)


async def revoke_invite(ctx: ApiContext, *, code: str, user_id: int) -> None:
    """The inviter, or anyone with MANAGE_GUILD, may revoke."""
    async with ctx.directory.transaction("revoke_invite") as tx:
        invite = await tx.get_invite(code)
        member = None if invite is None else await tx.member_context(invite.guild_id, user_id)
        if invite is None or member is None:
            raise errors.NotFound("unknown invite", details={"code": code})
        allowed = permissions.guild_permissions(member) & Permission.MANAGE_GUILD
        if invite.inviter_id != user_id and not allowed:
            raise errors.MissingPermission("MANAGE_GUILD")
        await tx.delete_invite(code)
        await tx.emit(
            [
                emit.guild_event(
                    ctx,
                    "INVITE_DELETE",
                    events.InviteDeleted(code=code, guild_id=invite.guild_id),
                    guild_id=invite.guild_id,
                )
            ]
        )
