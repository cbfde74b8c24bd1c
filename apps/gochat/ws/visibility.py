"""Channels coming into or going out of a member's view because of a guild change that is not
about the channel itself: a role's permissions, a member's roles, the guild's owner.

The hub asks `affected_users` before applying such an event (only those users' access can
change, and an unchanged permission set or role list affects nobody), their `visible_channels`
before and after, and sends what `channel_changes` returns: CHANNEL_DELETE for each channel lost
and CHANNEL_CREATE (the full channel, as GuildState keeps it) for each channel gained, the way a
client would have seen them had the channels themselves been deleted or created.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import orjson

from gochat.core import events
from gochat.ws import protocol
from gochat.ws.guild_state import GuildState

if TYPE_CHECKING:
    from gochat.ws.session import Session

ACCESS_EVENTS = frozenset(
    {"GUILD_ROLE_UPDATE", "GUILD_ROLE_DELETE", "GUILD_MEMBER_UPDATE", "GUILD_UPDATE"}
)


def affected_users(state: GuildState, event: events.Event) -> list[int]:
    """Local members (roles known) whose channel access `event` may change; ask before it is
    applied."""
    data = event.data
    if event.type == "GUILD_MEMBER_UPDATE":
        user_id = int(data["user"]["id"])
        old = state.members.get(user_id)
        changed = old is not None and set(old) != {int(r) for r in data.get("role_ids", [])}
        return [user_id] if changed else []
    if event.type == "GUILD_UPDATE":
        new_owner = int(data["owner_id"])
        if new_owner == state.owner_id:
            return []
        return [u for u in (state.owner_id, new_owner) if state.members.get(u) is not None]
    if event.type == "GUILD_ROLE_UPDATE":
        role_id = int(data["id"])
        old_role = state.roles.get(role_id)
        if old_role is not None and old_role.permissions == int(data["permissions"]):
            return []  # a new name, colour or position: nobody's access changes
    else:  # GUILD_ROLE_DELETE
        role_id = int(data["role_id"])
    if role_id == state.guild_id:  # @everyone: every member
        return [u for u, roles in state.members.items() if roles is not None]
    return [u for u, roles in state.members.items() if roles and role_id in roles]


def channel_changes(
    state: GuildState, before: dict[int, set[int]]
) -> Iterator[tuple[list[Session], bytes, str]]:
    """(sessions, dispatch head, event type) for every channel that left or entered the view
    of a user in `before` (user -> channels visible before the change), now that the change is
    applied. Heads are built once per channel."""
    local: dict[int, list[Session]] = {}
    for session in state.sessions:
        if session.user_id in before:
            local.setdefault(session.user_id, []).append(session)
    heads: dict[tuple[str, int], bytes] = {}
    for user_id, was in before.items():
        sessions = local.get(user_id)
        if not sessions:
            continue
        for key in _view_changes(was, state.visible_channels(user_id)):
            head = heads.get(key)
            if head is None:
                head = heads[key] = _head(state, *key)
            yield sessions, head, key[0]


def corrections(state: GuildState, user_id: int, told: set[int]) -> Iterator[bytes]:
    """Dispatch heads that bring a client told `told` (channel ids) to what `user_id` can view
    now: CHANNEL_DELETE for each channel gone, CHANNEL_CREATE for each one come."""
    for event_type, channel_id in _view_changes(told, state.visible_channels(user_id)):
        yield _head(state, event_type, channel_id)


def _view_changes(was: set[int], now: set[int]) -> Iterator[tuple[str, int]]:
    """(event type, channel id) that take a view from `was` to `now`: deletes, then creates,
    each in channel id order."""
    for event_type, channel_ids in (("CHANNEL_DELETE", was - now), ("CHANNEL_CREATE", now - was)):
        for channel_id in sorted(channel_ids):
            yield event_type, channel_id


def _head(state: GuildState, event_type: str, channel_id: int) -> bytes:
    if event_type == "CHANNEL_DELETE":
        gone = events.ChannelDeleted(id=channel_id, guild_id=state.guild_id)
        return protocol.dispatch_head(event_type, protocol.model_json(gone))
    return protocol.dispatch_head(event_type, orjson.dumps(state.channels[channel_id]))


def may_change_view(state: GuildState, user_id: int, event: events.Event) -> bool:
    """Whether `event`, replayed to `user_id`, may have changed which of the guild's channels
    they can view. Judged on the guild as it is now, without the state before the event, so it
    errs on the safe side: any channel update (its overwrites may have hidden or revealed it),
    any role deletion (the user may have held the role)."""
    data = event.data
    if event.type in ("GUILD_MEMBER_UPDATE", "GUILD_MEMBER_ADD"):
        return int(data["user"]["id"]) == user_id
    if event.type == "GUILD_MEMBER_REMOVE":
        return int(data["user_id"]) == user_id
    if event.type == "GUILD_ROLE_UPDATE":
        role_id = int(data["id"])
        return role_id == state.guild_id or role_id in (state.members.get(user_id) or ())
    return event.type in ("GUILD_ROLE_DELETE", "GUILD_UPDATE", "CHANNEL_UPDATE")


def visible_before(state: GuildState, user_ids: Iterable[int]) -> dict[int, set[int]]:
    return {user_id: state.visible_channels(user_id) for user_id in user_ids}
