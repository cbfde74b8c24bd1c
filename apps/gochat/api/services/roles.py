"""Roles: create, update, reorder, delete, under the role hierarchy.

Hierarchy: a member manages only roles strictly below their own highest role, and grants only
permissions they hold. @everyone (id = guild id) stays at position 0 and cannot be deleted.
"""

from __future__ import annotations

from gochat.adapters.postgres.directory import DirectoryTx
from gochat.api import models
from gochat.api.context import ApiContext
from gochat.api.services import access, emit
from gochat.core import errors, events, permissions, schemas
from gochat.core.permissions import Permission


async def list_roles(ctx: ApiContext, *, guild_id: int, user_id: int) -> list[schemas.Role]:
    async with ctx.directory.read("list_roles") as tx:
        await access.guild_member(tx, guild_id, user_id)
        return await tx.list_roles(guild_id)


def _check_grant(member: permissions.MemberContext, bits: int) -> None:
    beyond = bits & ~int(permissions.guild_permissions(member))
    if beyond:
        raise errors.MissingPermission(permissions.names(beyond)[0])


async def _manager(tx: DirectoryTx, guild_id: int, user_id: int) -> permissions.MemberContext:
    await tx.lock_guild_roles(guild_id)
    return await access.require_guild_permission(tx, guild_id, user_id, Permission.MANAGE_ROLES)


async def create_role(
    ctx: ApiContext, *, guild_id: int, user_id: int, body: models.RoleCreate
) -> schemas.Role:
    async with ctx.directory.transaction("create_role") as tx:
        member = await _manager(tx, guild_id, user_id)
        _check_grant(member, int(body.permissions))
        roles = await tx.list_roles(guild_id)
        # New roles start at the bottom, just above @everyone, as in Discord.
        await tx.set_role_positions(
            guild_id, {r.id: r.position + 1 for r in roles if r.id != guild_id}
        )
        role = await tx.insert_role(
            role_id=ctx.ids.next_id(),
            guild_id=guild_id,
            name=body.name,
            permissions=int(body.permissions),
            position=1,
            color=body.color,
            mentionable=body.mentionable,
            hoist=body.hoist,
        )
        await tx.emit([emit.guild_event(ctx, "GUILD_ROLE_CREATE", role, guild_id=guild_id)])
    return role


async def update_role(
    ctx: ApiContext, *, guild_id: int, user_id: int, role_id: int, body: models.RoleUpdate
) -> schemas.Role:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    async with ctx.directory.transaction("update_role") as tx:
        member = await _manager(tx, guild_id, user_id)
        role = await _existing_role(tx, guild_id, role_id)
        if role_id != guild_id:
            access.require_outranks(member, role.position, what="roles")
        if "permissions" in changes:
            # Only newly granted bits need holding; keeping what's there is always allowed.
            _check_grant(member, int(changes["permissions"]) & ~role.permissions)
        if role_id == guild_id and "name" in changes:
            raise errors.ValidationFailed.for_field("name", "@everyone cannot be renamed")
        if not changes:
            return role
        updated = await tx.update_role(role_id, changes)
        await tx.emit([emit.guild_event(ctx, "GUILD_ROLE_UPDATE", updated, guild_id=guild_id)])
    return updated


async def _existing_role(tx: DirectoryTx, guild_id: int, role_id: int) -> schemas.Role:
    role = await tx.get_role(guild_id, role_id)
    if role is None:
        raise errors.NotFound("unknown role", details={"role_id": str(role_id)})
    return role


async def reorder_roles(
    ctx: ApiContext, *, guild_id: int, user_id: int, changes: list[models.PositionChange]
) -> list[schemas.Role]:
    positions = {change.id: change.position for change in changes}
    if len(positions) != len(changes):
        raise errors.ValidationFailed.for_field("id", "each role may appear once")
    async with ctx.directory.transaction("reorder_roles") as tx:
        member = await _manager(tx, guild_id, user_id)
        roles = {r.id: r for r in await tx.list_roles(guild_id)}
        for role_id, position in positions.items():
            if role_id not in roles:
                raise errors.ValidationFailed.for_field("id", f"unknown role {role_id}")
            if role_id == guild_id or position < 1:
                raise errors.ValidationFailed.for_field(
                    "position", "@everyone stays at 0; other roles start at 1"
                )
            access.require_outranks(member, roles[role_id].position, what="roles")
            access.require_outranks(member, position, what="roles")
        await tx.set_role_positions(guild_id, positions)
        updated = await tx.list_roles(guild_id)
        await tx.emit(
            [
                emit.guild_event(ctx, "GUILD_ROLE_UPDATE", r, guild_id=guild_id)
                for r in updated
                if r.id in positions
            ]
        )
    return updated


async def delete_role(ctx: ApiContext, *, guild_id: int, user_id: int, role_id: int) -> None:
    async with ctx.directory.transaction("delete_role") as tx:
        member = await _manager(tx, guild_id, user_id)
        if role_id == guild_id:
            raise errors.BadRequest("@everyone cannot be deleted")
        role = await _existing_role(tx, guild_id, role_id)
        access.require_outranks(member, role.position, what="roles")
        await tx.delete_role(guild_id, role_id)
        await tx.emit(
            [
                emit.guild_event(
                    ctx,
                    "GUILD_ROLE_DELETE",
                    events.RoleDeleted(guild_id=guild_id, role_id=role_id),
                    guild_id=guild_id,
                )
            ]
        )
