from __future__ import annotations

from gochat.core import permissions
from gochat.core.permissions import MemberContext, Overwrite, Permission, Role

GUILD = 100
EVERYONE = Role(GUILD, int(permissions.DEFAULT_EVERYONE), 0)
MODS = Role(200, int(Permission.MANAGE_MESSAGES | Permission.KICK_MEMBERS), 2)
MUTED = Role(300, 0, 1)


def member(*roles: Role, user_id: int = 7, owner_id: int = 1) -> MemberContext:
    return MemberContext(
        user_id=user_id, guild_id=GUILD, owner_id=owner_id, everyone=EVERYONE, roles=list(roles)
    )


def test_owner_holds_every_permission_whatever_the_overwrites() -> None:
    owner = member(user_id=1)
    deny_all = [Overwrite(GUILD, "role", 0, permissions.ALL_BITS)]
    assert permissions.effective_permissions(owner, deny_all) == permissions.ALL


def test_administrator_bypasses_channel_overwrites() -> None:
    admin = member(Role(400, int(Permission.ADMINISTRATOR), 3))
    deny_view = [Overwrite(GUILD, "role", 0, int(Permission.VIEW_CHANNEL))]
    assert permissions.effective_permissions(admin, deny_view) == permissions.ALL


def test_roles_add_to_everyone() -> None:
    granted = permissions.guild_permissions(member(MODS))
    assert granted & Permission.MANAGE_MESSAGES and granted & Permission.SEND_MESSAGES
    assert not permissions.guild_permissions(member()) & Permission.KICK_MEMBERS


def test_overwrite_order_everyone_then_roles_then_member() -> None:
    send = int(Permission.SEND_MESSAGES)
    overwrites = [
        Overwrite(GUILD, "role", 0, send),  # @everyone may not send
        Overwrite(MODS.id, "role", send, 0),  # mods may
        Overwrite(MUTED.id, "role", 0, send),  # muted may not: role allow wins over role deny
        Overwrite(7, "member", 0, 0),
    ]
    assert not permissions.effective_permissions(member(), overwrites) & Permission.SEND_MESSAGES
    assert permissions.effective_permissions(member(MODS), overwrites) & Permission.SEND_MESSAGES
    assert permissions.effective_permissions(member(MODS, MUTED), overwrites) & send
    own_deny = [*overwrites[:3], Overwrite(7, "member", 0, send)]
    assert not permissions.effective_permissions(member(MODS), own_deny) & send


def test_no_view_means_nothing_and_no_send_drops_send_dependents() -> None:
    hidden = [Overwrite(GUILD, "role", 0, int(Permission.VIEW_CHANNEL))]
    assert permissions.effective_permissions(member(MODS), hidden) == Permission(0)
    mute = [Overwrite(GUILD, "role", 0, int(Permission.SEND_MESSAGES))]
    granted = permissions.effective_permissions(member(), mute)
    assert not granted & Permission.ATTACH_FILES and granted & Permission.READ_MESSAGE_HISTORY


def test_other_members_overwrites_do_not_apply() -> None:
    other = [Overwrite(8, "member", 0, int(Permission.VIEW_CHANNEL))]
    assert permissions.effective_permissions(member(), other) & Permission.VIEW_CHANNEL


def test_hierarchy_rank() -> None:
    assert member(MODS, MUTED).highest_position == 2
    assert member().highest_position == 0
    assert member(user_id=1).highest_position > 1000


def test_parse_bits_rejects_unknown_and_negative() -> None:
    assert permissions.parse_bits("2048", field="allow") == 2048
    for bad in ["-1", str(1 << 62), "x"]:
        try:
            permissions.parse_bits(bad, field="allow")
        except ValueError as exc:
            assert "allow" in str(exc)
        else:
            raise AssertionError(bad)
    assert permissions.names(int(Permission.KICK_MEMBERS | Permission.BAN_MEMBERS)) == [
        "KICK_MEMBERS",
        "BAN_MEMBERS",
    ]
