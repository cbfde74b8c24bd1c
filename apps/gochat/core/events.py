"""The one schema for domain events: what each state change publishes, and where.

Every service imports this module: the API writes events to the outbox, the publisher sends them
to JetStream, the gateway dispatches them, the indexer consumes them, and the protocol doc is
generated from EVENT_PAYLOADS. Changing a payload incompatibly means bumping SCHEMA_VERSION.

Subjects (stream GOCHAT_EVENTS captures `gochat.ev.>`):
  gochat.ev.guild.<guild_id>.<TYPE>   guild-scoped changes (channels, roles, members, messages)
  gochat.ev.dm.<channel_id>.<TYPE>    direct-message channels (recipients in `user_ids`)
  gochat.ev.user.<user_id>.<TYPE>     changes only one user's sessions care about
Ephemeral signals (typing) use core NATS on `gochat.eph.>` and are never stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gochat.core import schemas
from gochat.core.schemas import Snowflake

SCHEMA_VERSION = 1
STREAM_SUBJECTS = "gochat.ev.>"
EPHEMERAL_PREFIX = "gochat.eph"
# Headers of every stored event (the outbox relay sets them; docs/api.md#events):
# the scope ("guild:123", `scope_key`), within which events are stored in commit order, and the
# event's outbox seq, which grows with commit order within its scope (with gaps; it is not
# comparable across scopes). A consumer that remembers the highest seq it applied per scope
# can drop a late copy: one re-published after the stream's duplicate window.
SCOPE_HEADER = "GoChat-Scope"
OUTBOX_SEQ_HEADER = "GoChat-Outbox-Seq"


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GuildDeleted(_Payload):
    id: Snowflake


class MemberRemoved(_Payload):
    guild_id: Snowflake
    user_id: Snowflake
    reason: Literal["leave", "kick", "ban"]


class BanRemoved(_Payload):
    guild_id: Snowflake
    user_id: Snowflake


class RoleDeleted(_Payload):
    guild_id: Snowflake
    role_id: Snowflake


class ChannelDeleted(_Payload):
    id: Snowflake
    guild_id: Snowflake | None = None


class PinsUpdated(_Payload):
    channel_id: Snowflake
    message_id: Snowflake
    pinned: bool


class MessageDeleted(_Payload):
    id: Snowflake
    channel_id: Snowflake
    guild_id: Snowflake | None = None


class ReactionChanged(_Payload):
    message_id: Snowflake
    channel_id: Snowflake
    guild_id: Snowflake | None = None
    user_id: Snowflake
    emoji: str


class InviteDeleted(_Payload):
    code: str
    guild_id: Snowflake


class TypingStarted(_Payload):
    channel_id: Snowflake
    guild_id: Snowflake | None = None
    user_id: Snowflake
    timestamp: int


class PresenceUpdated(_Payload):
    user_id: Snowflake
    status: Literal["online", "idle", "dnd", "offline"]
    last_seen: datetime | None = None
    # The guild this update is for (as on Discord): a co-member of several of the user's
    # guilds gets one per guild. In GUILD_MEMBERS_CHUNK, the chunk's guild.
    guild_id: Snowflake | None = None


class ReadStateUpdated(schemas.ReadState):
    pass


# The registry: event type -> payload model. Nothing publishes a type missing from here.
EVENT_PAYLOADS: dict[str, type[BaseModel]] = {
    "GUILD_CREATE": schemas.Guild,
    "GUILD_UPDATE": schemas.Guild,
    "GUILD_DELETE": GuildDeleted,
    "GUILD_MEMBER_ADD": schemas.Member,
    "GUILD_MEMBER_UPDATE": schemas.Member,
    "GUILD_MEMBER_REMOVE": MemberRemoved,
    "GUILD_BAN_ADD": schemas.Ban,
    "GUILD_BAN_REMOVE": BanRemoved,
    "GUILD_ROLE_CREATE": schemas.Role,
    "GUILD_ROLE_UPDATE": schemas.Role,
    "GUILD_ROLE_DELETE": RoleDeleted,
    "CHANNEL_CREATE": schemas.Channel,
    "CHANNEL_UPDATE": schemas.Channel,
    "CHANNEL_DELETE": ChannelDeleted,
    "CHANNEL_PINS_UPDATE": PinsUpdated,
    "MESSAGE_CREATE": schemas.Message,
    "MESSAGE_UPDATE": schemas.Message,
    "MESSAGE_DELETE": MessageDeleted,
    "MESSAGE_REACTION_ADD": ReactionChanged,
    "MESSAGE_REACTION_REMOVE": ReactionChanged,
    "INVITE_CREATE": schemas.Invite,
    "INVITE_DELETE": InviteDeleted,
    "USER_UPDATE": schemas.User,
    "READ_STATE_UPDATE": ReadStateUpdated,
    "PRESENCE_UPDATE": PresenceUpdated,
    "TYPING_START": TypingStarted,
}
EPHEMERAL_TYPES = frozenset({"TYPING_START"})
Scope = Literal["guild", "dm", "user"]


class Event(BaseModel):
    """The envelope on the wire. `id` is a snowflake: unique, and ordered within one publisher."""

    model_config = ConfigDict(extra="forbid")

    id: Snowflake
    type: str
    version: int = SCHEMA_VERSION
    scope: Scope
    scope_id: Snowflake
    guild_id: Snowflake | None = None
    channel_id: Snowflake | None = None
    user_ids: list[Snowflake] = Field(
        default_factory=list, description="For dm/user scope: who may receive it."
    )
    occurred_at: datetime
    data: dict[str, Any]

    @property
    def subject(self) -> str:
        return subject_for(self.scope, self.scope_id, self.type)


def scope_key(scope: str, scope_id: int) -> str:
    """The value of SCOPE_HEADER: one guild, DM channel or user."""
    return f"{scope}:{scope_id}"


def subject_for(scope: Scope, scope_id: int, event_type: str) -> str:
    prefix = EPHEMERAL_PREFIX if event_type in EPHEMERAL_TYPES else "gochat.ev"
    return f"{prefix}.{scope}.{scope_id}.{event_type}"


def build(
    event_type: str,
    payload: BaseModel,
    *,
    event_id: int,
    scope: Scope,
    scope_id: int,
    guild_id: int | None = None,
    channel_id: int | None = None,
    user_ids: list[int] | None = None,
) -> Event:
    """Validate `payload` against the registry and wrap it in an envelope."""
    model = EVENT_PAYLOADS.get(event_type)
    if model is None:
        raise ValueError(f"unknown event type {event_type!r}")
    if not isinstance(payload, model):
        raise TypeError(f"{event_type} carries {model.__name__}, not {type(payload).__name__}")
    return Event(
        id=event_id,
        type=event_type,
        scope=scope,
        scope_id=scope_id,
        guild_id=guild_id,
        channel_id=channel_id,
        user_ids=user_ids or [],
        occurred_at=datetime.now(UTC),
        data=payload.model_dump(mode="json"),
    )


def parse(raw: bytes | str) -> Event:
    """Decode an envelope and check its payload against the registry."""
    event = Event.model_validate_json(raw)
    model = EVENT_PAYLOADS.get(event.type)
    if model is None:
        raise ValueError(f"unknown event type {event.type!r}")
    model.model_validate(event.data)
    return event


def payload_of(event: Event) -> BaseModel:
    return EVENT_PAYLOADS[event.type].model_validate(event.data)
