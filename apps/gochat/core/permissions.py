"""Discord-style 64-bit permission flags and the one function that computes what a member may do.

Every endpoint and the gateway's dispatch filter call `effective_permissions`; nothing else
decides access. The order follows Discord's documented algorithm: owner and ADMINISTRATOR
short-circuit; then @everyone, the member's roles, and in a channel the overwrites
(@everyone, then all role overwrites together, then the member's own).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class Permission(enum.IntFlag):
    CREATE_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CHANGE_NICKNAME = 1 << 26
    MANAGE_NICKNAMES = 1 << 27
    MANAGE_ROLES = 1 << 28


ALL = Permission(0)
for _flag in Permission:
    ALL |= _flag
ALL_BITS = int(ALL)

# What a new guild's @everyone role may do.
DEFAULT_EVERYONE = (
    Permission.CREATE_INVITE
    | Permission.ADD_REACTIONS
    | Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.USE_EXTERNAL_EMOJIS
    | Permission.CHANGE_NICKNAME
)

# The two members of a direct-message channel hold exactly these there while they share a guild...
DM_RECIPIENT = (
    Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.ADD_REACTIONS
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
)

# ...and only these once they no longer share a guild: the history stays, nothing new arrives.
DM_RECIPIENT_WITHOUT_SHARED_GUILD = Permission.VIEW_CHANNEL | Permission.READ_MESSAGE_HISTORY

# Permissions that only make sense when a member can send messages at all.
_NEEDS_SEND = Permission.MENTION_EVERYONE | Permission.ATTACH_FILES | Permission.EMBED_LINKS


@dataclass(frozen=True, slots=True)
class Role:
    id: int
    permissions: int
    position: int


@dataclass(frozen=True, slots=True)
class Overwrite:
    """A channel's allow/deny for one role or one member."""

    target_id: int
    target_type: str  # "role" | "member"
    allow: int
    deny: int


@dataclass(frozen=True, slots=True)
class MemberContext:
    """Everything needed to decide what one member may do in one guild."""

    user_id: int
    guild_id: int
    owner_id: int
    everyone: Role
    roles: Sequence[Role]  # the member's roles, @everyone excluded

    @property
    def is_owner(self) -> bool:
        return self.user_id == self.owner_id

    @property
    def highest_position(self) -> int:
        """The member's rank for hierarchy checks; the owner outranks every role."""
        if self.is_owner:
            return 1 << 30
        return max((role.position for role in self.roles), default=0)


def guild_permissions(member: MemberContext) -> Permission:
    if member.is_owner:
        return ALL
    bits = member.everyone.permissions
    for role in member.roles:
        bits |= role.permissions
    if bits & Permission.ADMINISTRATOR:
        return ALL
    return Permission(bits & ALL_BITS)


def effective_permissions(
    member: MemberContext, overwrites: Iterable[Overwrite] | None = None
) -> Permission:
    """What `member` may do in a channel with `overwrites` (None: at guild level)."""
    base = guild_permissions(member)
    if overwrites is None or base & Permission.ADMINISTRATOR:
        return base
    bits = int(base)
    by_target = {(ow.target_type, ow.target_id): ow for ow in overwrites}
    everyone = by_target.get(("role", member.everyone.id))
    if everyone:
        bits = (bits & ~everyone.deny) | everyone.allow
    role_allow = role_deny = 0
    for role in member.roles:
        ow = by_target.get(("role", role.id))
        if ow:
            role_allow |= ow.allow
            role_deny |= ow.deny
    bits = (bits & ~role_deny) | role_allow
    own = by_target.get(("member", member.user_id))
    if own:
        bits = (bits & ~own.deny) | own.allow
    if not bits & Permission.VIEW_CHANNEL:
        return Permission(0)
    if not bits & Permission.SEND_MESSAGES:
        bits &= ~_NEEDS_SEND
    return Permission(bits & ALL_BITS)


def names(bits: int) -> list[str]:
    """Flag names set in `bits`, for error messages and documentation."""
    return [flag.name or "" for flag in Permission if bits & flag]


def parse_bits(value: int | str, *, field: str) -> int:
    """Validate client-supplied permission bits (a string or integer, as Discord sends them)."""
    try:
        bits = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{field} must be an integer bit set") from None
    if bits < 0 or bits & ~ALL_BITS:
        raise ValueError(f"{field} has unknown permission bits")
    return bits
