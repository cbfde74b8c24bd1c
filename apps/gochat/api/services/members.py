"""Membership: list, update (nick, roles), kick, leave, ban, unban."""

from __future__ import annotations

from typing import Literal

from gochat.adapters.postgres.directory import DirectoryTx
from gochat.api import models
from gochat.api.context import ApiContext
from gochat.api.services import access, emit
from gochat.core import errors, events, permissions, schemas
from gochat.core.permissions import Permission


async def list_members(
    ctx: ApiContext, *, guild_id: int, user_id: int, after: int | None, limit: int
) -> list[schemas.Member]:
    async with ctx.directory.read("list_members") as tx:
        await access.guild_member(tx, guild_id, user_id)
        return await tx.list_members(guild_id, after=after, limit=limit)


async def get_member(
    ctx: ApiContext, *, guild_id: int, user_id: int, target_id: int
) -> schemas.Member:
    async with ctx.directory.read("get_member") as tx:
        await access.guild_member(tx, guild_id, user_id)
        member = await tx.get_member(guild_id, target_id)
    if member is None:
        raise errors.NotFound("unknown member", details={"user_id": str(target_id)})
    return member


async def update_member(
    ctx: ApiContext, *, guild_id: int, user_id: int, target_id: int, body: models.MemberUpdate
) -> schemas.Member:
    changes = body.model_dump(exclude_unset=True)
    async with ctx.directory.transaction("update_member") as tx:
        await tx.lock_guild_roles(guild_id)
        actor = await access.guild_member(tx, guild_id, user_id)
        target = await _target(tx, guild_id, target_id)
        granted = permissions.guild_permissions(actor)
        if "nick" in changes:
            needed = (
                Permission.CHANGE_NICKNAME if target_id == user_id else Permission.MANAGE_NICKNAMES
            )
            if not granted & needed:
                raise errors.MissingPermission(needed.name or "")
            if target_id != user_id:
                access.require_outranks(actor, target.highest_position, what="members")
        role_ids = changes.get("role_ids")
        if role_ids is not None:
            await _check_role_change(tx, actor, target, set(role_ids), granted)
        member = await tx.update_member(
            guild_id,
            target_id,
            nick=changes.get("nick"),
            set_nick="nick" in changes,
            role_ids=sorted(set(role_ids)) if role_ids is not None else None,
        )
        assert member is not None
        await tx.emit([emit.guild_event(ctx, "GUILD_MEMBER_UPDATE", member, guild_id=guild_id)])
    return member


async def _target(tx: DirectoryTx, guild_id: int, target_id: int) -> permissions.MemberContext:
    target = await tx.member_context(guild_id, target_id)
    if target is None:
        raise errors.NotFound("unknown member", details={"user_id": str(target_id)})
    return target


async def _check_role_change(
    tx: DirectoryTx,
    actor: permissions.MemberContext,
    target: permissions.MemberContext,
    wanted: set[int],
    granted: Permission,
) -> None:
    if not granted & Permission.MANAGE_ROLES:
        raise errors.MissingPermission("MANAGE_ROLES")
    roles = {role.id: role for role in await tx.list_roles(actor.guild_id)}
    unknown = [role_id for role_id in wanted if role_id not in roles or role_id == actor.guild_id]
    if unknown:
        raise errors.ValidationFailed.for_field("role_ids", f"unknown role {unknown[0]}")
    current = {role.id for role in target.roles}
    # Only roles below the actor's highest may be given or taken away.
    for role_id in wanted ^ current:
        access.require_outranks(actor, roles[role_id].position, what="roles")


async def leave_guild(ctx: ApiContext, *, guild_id: int, user_id: int) -> None:
    """The caller leaves (`DELETE /guilds/{id}/members/@me`); the owner cannot."""
    async with ctx.directory.transaction("leave_guild") as tx:
        actor = await access.guild_member(tx, guild_id, user_id)
        if actor.is_owner:
            raise errors.Conflict("the owner cannot leave; transfer or delete the guild")
        await _remove(ctx, tx, guild_id=guild_id, user_id=user_id, reason="leave")


async def kick_member(ctx: ApiContext, *, guild_id: int, user_id: int, target_id: int) -> None:
    """Kick another member: KICK_MEMBERS, and only a member below the caller's highest role.
    Naming oneself is refused (leaving has its own route), so the kick route never acts
    without the permission."""
    async with ctx.directory.transaction("kick_member") as tx:
        actor = await access.require_guild_permission(
            tx, guild_id, user_id, Permission.KICK_MEMBERS
        )
        if target_id == user_id:
            raise errors.Conflict(
                "you cannot kick yourself; leave with DELETE /guilds/{guild_id}/members/@me"
            )
        target = await _target(tx, guild_id, target_id)
        if target.is_owner:
            raise errors.Forbidden("the owner cannot be kicked")
        access.require_outranks(actor, target.highest_position, what="members")
        await _remove(ctx, tx, guild_id=guild_id, user_id=target_id, reason="kick")


async def _remove(
    ctx: ApiContext,
    tx: DirectoryTx,
    *,
    guild_id: int,
    user_id: int,
    reason: Literal["leave", "kick"],
) -> None:
    await tx.delete_member(guild_id, user_id)
    await tx.emit(
        [
            emit.guild_event(
                ctx,
                "GUILD_MEMBER_REMOVE",
                events.MemberRemoved(guild_id=guild_id, user_id=user_id, reason=reason),
                guild_id=guild_id,
            )
        ]
    )


async def ban_member(
    ctx: ApiContext, *, guild_id: int, user_id: int, target_id: int, body: models.BanCreate
) -> schemas.Ban:
    async with ctx.directory.transaction("ban_member") as tx:
        actor = await access.require_guild_permission(tx, guild_id, user_id, Permission.BAN_MEMBERS)
        if target_id == user_id:
            raise errors.Conflict("you cannot ban yourself")
        if await tx.get_user(target_id) is None:
            raise errors.NotFound("unknown user", details={"user_id": str(target_id)})
        target = await tx.member_context(guild_id, target_id)
        if target is not None:
            if target.is_owner:
                raise errors.Forbidden("the owner cannot be banned")
            access.require_outranks(actor, target.highest_position, what="members")
        ban = await tx.insert_ban(
            guild_id=guild_id, user_id=target_id, reason=body.reason, banned_by=user_id
        )
        emitted = [emit.guild_event(ctx, "GUILD_BAN_ADD", ban, guild_id=guild_id)]
        if target is not None and await tx.delete_member(guild_id, target_id):
            emitted.append(
                emit.guild_event(
                    ctx,
                    "GUILD_MEMBER_REMOVE",
                    events.MemberRemoved(guild_id=guild_id, user_id=target_id, reason="ban"),
                    guild_id=guild_id,
                )
            )
        await tx.emit(emitted)
    return ban


async def unban_member(ctx: ApiContext, *, guild_id: int, user_id: int, target_id: int) -> None:
    async with ctx.directory.transaction("unban_member") as tx:
        await access.require_guild_permission(tx, guild_id, user_id, Permission.BAN_MEMBERS)
        if not await tx.delete_ban(guild_id, target_id):
            raise errors.NotFound("unknown ban", details={"user_id": str(target_id)})
        await tx.emit(
            [
                emit.guild_event(
                    ctx,
                    "GUILD_BAN_REMOVE",
                    events.BanRemoved(guild_id=guild_id, user_id=target_id),
                    guild_id=guild_id,
                )
            ]
        )


async def list_bans(ctx: ApiContext, *, guild_id: int, user_id: int) -> list[schemas.Ban]:
    async with ctx.directory.read("list_bans") as tx:
        await access.require_guild_permission(tx, guild_id, user_id, Permission.BAN_MEMBERS)
        return await tx.list_bans(guild_id)
