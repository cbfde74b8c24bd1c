"""Resource shapes shared by the REST API responses and the event payloads (one source of truth).

Ids are snowflakes: integers inside Python, decimal strings on the wire (JavaScript numbers lose
precision above 2**53), accepted as either on input.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from gochat.core import ids


def _parse_snowflake(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a snowflake id")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isdigit() and len(value) <= 19:
        number = int(value)
    else:
        raise ValueError("must be a snowflake id (a decimal string)")
    if not 0 < number <= ids.MAX_ID:
        raise ValueError("must be a snowflake id within 1..2^63-1")
    return number


Snowflake = Annotated[
    int,
    BeforeValidator(_parse_snowflake),
    PlainSerializer(str, return_type=str, when_used="json"),
]
PermissionBits = Annotated[int, PlainSerializer(str, return_type=str, when_used="json")]


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)


class User(Schema):
    id: Snowflake
    username: str
    display_name: str | None = None
    bio: str | None = None
    avatar_url: str | None = None
    created_at: datetime


class Guild(Schema):
    id: Snowflake
    name: str
    description: str | None = None
    icon_url: str | None = None
    owner_id: Snowflake
    created_at: datetime


class Role(Schema):
    id: Snowflake
    guild_id: Snowflake
    name: str
    color: int = 0
    permissions: PermissionBits
    position: int
    mentionable: bool = False
    hoist: bool = False


class Member(Schema):
    guild_id: Snowflake
    user: User
    nick: str | None = None
    role_ids: list[Snowflake] = Field(default_factory=list)
    joined_at: datetime


class Overwrite(Schema):
    id: Snowflake
    type: Literal["role", "member"]
    allow: PermissionBits = 0
    deny: PermissionBits = 0


ChannelType = Literal["text", "category", "dm"]


class Channel(Schema):
    id: Snowflake
    type: ChannelType
    guild_id: Snowflake | None = None
    name: str | None = None
    topic: str | None = None
    position: int = 0
    parent_id: Snowflake | None = None
    overwrites: list[Overwrite] = Field(default_factory=list)
    recipient_ids: list[Snowflake] = Field(default_factory=list)
    last_message_id: Snowflake | None = None
    created_at: datetime


class ReactionCount(Schema):
    emoji: str
    count: int
    me: bool = False


class Attachment(Schema):
    id: Snowflake
    filename: str
    content_type: str
    size: int
    url: str


class Message(Schema):
    id: Snowflake
    channel_id: Snowflake
    guild_id: Snowflake | None = None
    author: User
    content: str
    nonce: str | None = None
    reply_to_id: Snowflake | None = None
    mention_ids: list[Snowflake] = Field(default_factory=list)
    mention_everyone: bool = False
    pinned: bool = False
    reactions: list[ReactionCount] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    created_at: datetime
    edited_at: datetime | None = None


class Invite(Schema):
    code: str
    guild_id: Snowflake
    channel_id: Snowflake | None = None
    inviter_id: Snowflake
    max_uses: int
    uses: int
    expires_at: datetime | None = None
    created_at: datetime


class Ban(Schema):
    guild_id: Snowflake
    user: User
    reason: str | None = None
    created_at: datetime


class ReadState(Schema):
    channel_id: Snowflake
    last_read_message_id: Snowflake | None = None
    mention_count: int = 0
