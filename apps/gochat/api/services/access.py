"""Access decisions for API endpoints. Every check goes through `core.permissions`."""

from __future__ import annotations

from dataclasses import dataclass, field

from gochat.adapters.postgres.directory import DirectoryTx
from gochat.adapters.postgres.directory.access import ChannelFacts
from gochat.core import errors, permissions, schemas
from gochat.core.permissions import Permission


@dataclass(frozen=True)
class ChannelAccess:
    channel_id: int
    channel_type: str
    guild_id: int | None
    member: permissions.MemberContext | None  # None in a DM channel
    granted: Permission
    recipient_ids: list[int] = field(default_factory=list)  # DM channels only

    def require(self, needed: Permission) -> None:
        # On plain ints: IntFlag's ~ and & build flag objects (~1 µs), and every request checks.
        missing = int(needed) & ~int(self.granted)
        if missing:
            raise errors.MissingPermission(permissions.names(missing)[0])


async def guild_member(tx: DirectoryTx, guild_id: int, user_id: int) -> permissions.MemberContext:
    """The caller's membership. To a non-member the guild does not exist: the same 404 as an
    unknown id, so nobody can probe which guild ids exist."""
    member = await tx.member_context(guild_id, user_id)
    if member is None:
        raise errors.NotFound("unknown guild", details={"guild_id": str(guild_id)})
    return member


async def require_guild_permission(
    tx: DirectoryTx, guild_id: int, user_id: int, needed: Permission
) -> permissions.MemberContext:
    member = await guild_member(tx, guild_id, user_id)
    missing = needed & ~permissions.guild_permissions(member)
    if missing:
        raise errors.MissingPermission(permissions.names(missing)[0])
    return member


async def channel_access(tx: DirectoryTx, channel_id: int, user_id: int) -> ChannelAccess:
    """What the caller may do in a channel. A channel they cannot view, or in a guild they are
    not in, does not exist for them (404, exactly as an unknown id)."""
    return _decide(channel_id, user_id, await tx.channel_access_facts(channel_id, user_id))


async def channel_access_as(
    tx: DirectoryTx, channel_id: int, user_id: int
) -> tuple[ChannelAccess, schemas.User]:
    """`channel_access` and the caller's own profile, in one round trip (what a send needs)."""
    facts = await tx.channel_access_facts(channel_id, user_id, with_user=True)
    decided = _decide(channel_id, user_id, facts)
    if facts is None or facts.user is None:  # a valid token of an account deleted since
        raise errors.Unauthorized("the account no longer exists")
    return decided, facts.user


def _decide(channel_id: int, user_id: int, facts: ChannelFacts | None) -> ChannelAccess:
    if facts is None:
        raise _unknown_channel(channel_id)
    if facts.guild_id is None:
        if user_id not in facts.recipient_ids:
            raise _unknown_channel(channel_id)
        return ChannelAccess(
            channel_id,
            facts.channel_type,
            None,
            None,
            permissions.DM_RECIPIENT
            if facts.dm_shares_guild
            else permissions.DM_RECIPIENT_WITHOUT_SHARED_GUILD,
            facts.recipient_ids,
        )
    if facts.member is None:  # a non-member learns nothing, not even that the channel exists
        raise _unknown_channel(channel_id)
    granted = permissions.effective_permissions(facts.member, facts.overwrites)
    if not granted & Permission.VIEW_CHANNEL:
        raise _unknown_channel(channel_id)
    return ChannelAccess(channel_id, facts.channel_type, facts.guild_id, facts.member, granted)


def _unknown_channel(channel_id: int) -> errors.NotFound:
    return errors.NotFound("unknown channel", details={"channel_id": str(channel_id)})


async def channel_ids_with(
    tx: DirectoryTx, guild_id: int, user_id: int, *, needed: Permission
) -> list[int]:
    """The guild's channels in which the caller holds every permission in `needed`."""
    member = await guild_member(tx, guild_id, user_id)
    overwrites = await tx.guild_overwrites(guild_id)
    return [
        channel_id
        for channel_id, channel_overwrites in overwrites.items()
        if permissions.effective_permissions(member, channel_overwrites) & needed == needed
    ]


def require_outranks(member: permissions.MemberContext, position: int, *, what: str) -> None:
    """Role hierarchy: nobody acts on a role (or member) at or above their own highest role."""
    if not member.is_owner and position >= member.highest_position:
        raise errors.Forbidden(
            f"cannot manage {what} at or above your highest role",
            details={"position": position, "your_highest": member.highest_position},
        )
