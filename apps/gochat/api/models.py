"""Request bodies. Unknown fields are refused; every limit here is part of the API contract."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gochat.core import permissions
from gochat.core.schemas import Snowflake


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _bits(value: int | str, field: str) -> int:
    return permissions.parse_bits(value, field=field)


Name = Field(min_length=1, max_length=100)


class ProfileUpdate(Body):
    display_name: str | None = Field(None, min_length=1, max_length=32)
    bio: str | None = Field(None, max_length=190)
    avatar_url: str | None = Field(None, max_length=512, pattern=r"^https?://")


class DmCreate(Body):
    recipient_id: Snowflake


class GuildCreate(Body):
    name: str = Field(min_length=2, max_length=100)
    description: str | None = Field(None, max_length=1000)
    icon_url: str | None = Field(None, max_length=512, pattern=r"^https?://")


class GuildUpdate(Body):
    name: str | None = Field(None, min_length=2, max_length=100)
    description: str | None = Field(None, max_length=1000)
    icon_url: str | None = Field(None, max_length=512, pattern=r"^https?://")


class OverwriteBody(Body):
    type: Literal["role", "member"]
    allow: int | str = 0
    deny: int | str = 0

    @field_validator("allow", "deny")
    @classmethod
    def _valid_bits(cls, value: int | str, info: object) -> int:
        return _bits(value, getattr(info, "field_name", "bits"))


class OverwriteCreate(OverwriteBody):
    id: Snowflake


class ChannelCreate(Body):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\s#@:]+$")
    type: Literal["text", "category"] = "text"
    topic: str | None = Field(None, max_length=1024)
    parent_id: Snowflake | None = None
    position: int | None = Field(None, ge=0, le=10_000)
    overwrites: list[OverwriteCreate] = Field(default_factory=list, max_length=100)


class ChannelUpdate(Body):
    name: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[^\s#@:]+$")
    topic: str | None = Field(None, max_length=1024)
    parent_id: Snowflake | None = None
    position: int | None = Field(None, ge=0, le=10_000)


class PositionChange(Body):
    id: Snowflake
    position: int = Field(ge=0, le=10_000)


class RoleCreate(Body):
    name: str = Field("new role", min_length=1, max_length=100)
    permissions: int | str = 0
    color: int = Field(0, ge=0, le=0xFFFFFF)
    mentionable: bool = False
    hoist: bool = False

    @field_validator("permissions")
    @classmethod
    def _valid_bits(cls, value: int | str) -> int:
        return _bits(value, "permissions")


class RoleUpdate(Body):
    name: str | None = Field(None, min_length=1, max_length=100)
    permissions: int | str | None = None
    color: int | None = Field(None, ge=0, le=0xFFFFFF)
    mentionable: bool | None = None
    hoist: bool | None = None

    @field_validator("permissions")
    @classmethod
    def _valid_bits(cls, value: int | str | None) -> int | None:
        return None if value is None else _bits(value, "permissions")


class MemberUpdate(Body):
    nick: str | None = Field(None, max_length=32)
    role_ids: list[Snowflake] | None = Field(None, max_length=250)


class BanCreate(Body):
    reason: str | None = Field(None, max_length=512)


class InviteCreate(Body):
    max_age_seconds: int = Field(86_400, ge=0, le=7 * 86_400, description="0: never expires")
    max_uses: int = Field(0, ge=0, le=100, description="0: unlimited")


class MessageCreate(Body):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    content: str = Field(min_length=1)
    nonce: str | None = Field(None, min_length=1, max_length=64)
    reply_to_id: Snowflake | None = None


class MessageUpdate(Body):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    content: str = Field(min_length=1)
