"""What one gateway process knows about one guild to filter dispatches: roles, channels (their
overwrites, and the channel objects themselves, to announce a channel a member comes to see),
the roles of its locally connected members, and who may view each channel.

The state is loaded once from PostgreSQL and then kept current by applying the guild's events in
stream order (every change that matters for access arrives as an event carrying the full new
object), so filtering never waits on the database. Caches are dropped on every change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from gochat.core import events, permissions, schemas
from gochat.core.permissions import Permission

if TYPE_CHECKING:
    from gochat.ws.session import Session

# Guild events only members holding a guild-level permission receive.
GUILD_PERMISSION_NEEDED: dict[str, Permission] = {
    "GUILD_BAN_ADD": Permission.BAN_MEMBERS,
    "GUILD_BAN_REMOVE": Permission.BAN_MEMBERS,
    "INVITE_CREATE": Permission.MANAGE_GUILD,
    "INVITE_DELETE": Permission.MANAGE_GUILD,
}
# Events whose audience is decided before they change the state (the member about to be
# removed still hears of it; viewers of a channel about to go still hear it go).
AUDIENCE_BEFORE_APPLY = frozenset({"GUILD_MEMBER_REMOVE", "CHANNEL_DELETE", "GUILD_DELETE"})
_CHANNEL_TYPES = frozenset({"CHANNEL_CREATE", "CHANNEL_UPDATE", "CHANNEL_DELETE"})
_NOT_CHANNEL_SCOPED = frozenset(GUILD_PERMISSION_NEEDED)


def channel_of(event: events.Event) -> int | None:
    """The channel whose viewers an event is for; None for guild-wide events."""
    if event.type in _NOT_CHANNEL_SCOPED:
        return None
    if event.type in _CHANNEL_TYPES:
        return int(event.data["id"])
    if event.channel_id is not None:
        return event.channel_id
    raw = event.data.get("channel_id")
    return int(raw) if raw is not None else None


class GuildState:
    __slots__ = (
        "_guild_perms",
        "_viewers",
        "backlog",
        "channels",
        "guild_id",
        "loading",
        "members",
        "overwrites",
        "owner_id",
        "roles",
        "sessions",
    )

    def __init__(self, guild_id: int) -> None:
        self.guild_id = guild_id
        self.owner_id = 0
        self.roles: dict[int, permissions.Role] = {}
        self.overwrites: dict[int, list[permissions.Overwrite]] = {}
        self.channels: dict[int, dict[str, Any]] = {}  # channel id -> its JSON payload
        # Role ids of members with a session on this process; None while being loaded.
        self.members: dict[int, tuple[int, ...] | None] = {}
        self.sessions: set[Session] = set()
        self.loading = True
        self.backlog: list[tuple[int | None, events.Event]] = []
        self._viewers: dict[int, list[Session]] = {}
        self._guild_perms: dict[int, int] = {}

    def load(
        self, *, owner_id: int, roles: Iterable[schemas.Role], channels: Iterable[schemas.Channel]
    ) -> None:
        self.owner_id = owner_id
        self.roles = {r.id: permissions.Role(r.id, int(r.permissions), r.position) for r in roles}
        for channel in channels:
            _channel_put(self, channel.model_dump(mode="json"))
        self.loading = False
        self.invalidate()

    def invalidate(self) -> None:
        self._viewers.clear()
        self._guild_perms.clear()

    # --- access -------------------------------------------------------------------------------

    def member_context(self, user_id: int) -> permissions.MemberContext | None:
        role_ids = self.members.get(user_id)
        if role_ids is None:
            return None
        everyone = self.roles.get(self.guild_id, permissions.Role(self.guild_id, 0, 0))
        return permissions.MemberContext(
            user_id=user_id,
            guild_id=self.guild_id,
            owner_id=self.owner_id,
            everyone=everyone,
            roles=[self.roles[r] for r in role_ids if r in self.roles],
        )

    def is_member(self, user_id: int) -> bool:
        return self.members.get(user_id) is not None

    def guild_permissions(self, user_id: int) -> int:
        cached = self._guild_perms.get(user_id)
        if cached is None:
            member = self.member_context(user_id)
            cached = int(permissions.guild_permissions(member)) if member else 0
            self._guild_perms[user_id] = cached
        return cached

    def channel_permissions(self, user_id: int, channel_id: int) -> Permission:
        member = self.member_context(user_id)
        if member is None:
            return Permission(0)
        return permissions.effective_permissions(member, self.overwrites.get(channel_id, []))

    def can_view(self, user_id: int, channel_id: int) -> bool:
        return bool(self.channel_permissions(user_id, channel_id) & Permission.VIEW_CHANNEL)

    def may_receive(self, event: events.Event, user_id: int) -> bool:
        """Whether `user_id` (a local member) may receive `event` given the current state."""
        if not self.is_member(user_id):
            return False
        needed = GUILD_PERMISSION_NEEDED.get(event.type)
        if needed is not None:
            return bool(self.guild_permissions(user_id) & needed)
        channel_id = channel_of(event)
        if channel_id is None:
            return True
        return self.can_view(user_id, channel_id)

    def audience(self, event: events.Event) -> Sequence[Session]:
        """Local sessions that may receive `event`; per-channel lists are cached."""
        channel_id = channel_of(event)
        if channel_id is not None and event.type not in GUILD_PERMISSION_NEEDED:
            viewers = self._viewers.get(channel_id)
            if viewers is None:
                viewers = [s for s in self.sessions if self.can_view(s.user_id, channel_id)]
                self._viewers[channel_id] = viewers
            return viewers
        return [s for s in self.sessions if self.may_receive(event, s.user_id)]

    # --- keeping current ----------------------------------------------------------------------

    def apply(self, event: events.Event) -> None:
        handler = _APPLY.get(event.type)
        if handler is not None:
            handler(self, event.data)
            self.invalidate()
        elif event.type == "MESSAGE_CREATE":  # kept so a CHANNEL_CREATE we send is current
            channel = self.channels.get(event.channel_id or 0)
            if channel is not None:
                channel["last_message_id"] = event.data["id"]

    def visible_channels(self, user_id: int) -> set[int]:
        """The channels `user_id` (a local member) may view now."""
        member = self.member_context(user_id)
        if member is None:
            return set()
        view = Permission.VIEW_CHANNEL
        return {
            channel_id
            for channel_id, overwrites in self.overwrites.items()
            if permissions.effective_permissions(member, overwrites) & view
        }


def _guild_update(state: GuildState, data: dict[str, Any]) -> None:
    state.owner_id = int(data["owner_id"])


def _role_put(state: GuildState, data: dict[str, Any]) -> None:
    role_id = int(data["id"])
    state.roles[role_id] = permissions.Role(role_id, int(data["permissions"]), data["position"])


def _role_delete(state: GuildState, data: dict[str, Any]) -> None:
    role_id = int(data["role_id"])
    state.roles.pop(role_id, None)
    for user_id, role_ids in state.members.items():
        if role_ids and role_id in role_ids:
            state.members[user_id] = tuple(r for r in role_ids if r != role_id)


def _channel_put(state: GuildState, data: dict[str, Any]) -> None:
    channel_id = int(data["id"])
    state.channels[channel_id] = dict(data)  # a copy: last_message_id is kept current in it
    state.overwrites[channel_id] = [
        permissions.Overwrite(int(o["id"]), o["type"], int(o["allow"]), int(o["deny"]))
        for o in data.get("overwrites", [])
    ]


def _channel_delete(state: GuildState, data: dict[str, Any]) -> None:
    state.overwrites.pop(int(data["id"]), None)
    state.channels.pop(int(data["id"]), None)


def _member_put(state: GuildState, data: dict[str, Any]) -> None:
    user_id = int(data["user"]["id"])
    if user_id in state.members:
        state.members[user_id] = tuple(int(r) for r in data.get("role_ids", []))


def _member_remove(state: GuildState, data: dict[str, Any]) -> None:
    state.members.pop(int(data["user_id"]), None)


_APPLY = {
    "GUILD_UPDATE": _guild_update,
    "GUILD_ROLE_CREATE": _role_put,
    "GUILD_ROLE_UPDATE": _role_put,
    "GUILD_ROLE_DELETE": _role_delete,
    "CHANNEL_CREATE": _channel_put,
    "CHANNEL_UPDATE": _channel_put,
    "CHANNEL_DELETE": _channel_delete,
    "GUILD_MEMBER_ADD": _member_put,
    "GUILD_MEMBER_UPDATE": _member_put,
    "GUILD_MEMBER_REMOVE": _member_remove,
}
