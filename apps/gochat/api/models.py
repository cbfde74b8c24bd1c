"""Request bodies. Unknown fields are refused; every limit here is part of the API contract.

Types are strict: a boolean is not a number (`{"color": true}` is refused), a string is not a
boolean, a number is not a string; ids and permission bits are the exception, taken as an
integer or as its decimal string. Every text goes through `schemas.STORABLE` (no NUL, no lone
surrogate). In an update body a field left out keeps its value; `null` clears a field where
clearing means something (a topic, a nick, a parent category) and is refused (422 naming the
field) where it does not (a name, a position, a permission set): those are `NotNull`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from gochat.core import config, permissions
from gochat.core.schemas import SPACE, STORABLE, Int, Snowflake, decimal_pattern, integral

T = TypeVar("T")


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)


def _refuse_null(value: object) -> object:
    if value is None:
        raise ValueError("cannot be null; leave the field out to keep its value")
    return value


class _NullNotDeclared:
    """Declares a `NotNull` field as its non-null type: null is refused, so the schema says so."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        declared = handler(schema)
        branches = declared.get("anyOf", [])
        if len(branches) == 2 and {"type": "null"} in branches:
            kept = next(branch for branch in branches if branch != {"type": "null"})
            return {**kept, **{k: v for k, v in declared.items() if k != "anyOf"}}
        return declared


NotNull = Annotated[T | None, BeforeValidator(_refuse_null), _NullNotDeclared]
"""An optional update field: absent keeps the stored value, null is refused."""

_BITS_PATTERN = decimal_pattern(permissions.ALL_BITS, minimum=0)
_BITS_TEXT = re.compile(_BITS_PATTERN)


def _parse_bits(value: Any) -> int:
    if isinstance(value, str) and _BITS_TEXT.match(value):
        value = int(value)
    value = integral(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be an integer bit set (or its decimal string)")
    return permissions.parse_bits(value, field="permission bits")


Bits = Annotated[
    int,
    BeforeValidator(_parse_bits),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": permissions.ALL_BITS},
                {"type": "string", "pattern": _BITS_PATTERN},
            ],
            "description": "Permission bits (docs/api.md); an unknown bit is refused.",
        },
        mode="validation",
    ),
]
Url = Annotated[str, Field(max_length=512, pattern=r"^https?://[^\u0000]*$"), STORABLE]
Position = Annotated[Int, Field(ge=0, le=10_000)]
Color = Annotated[Int, Field(ge=0, le=0xFFFFFF)]
RoleName = Annotated[str, Field(min_length=1, max_length=100), STORABLE]
GuildName = Annotated[str, Field(min_length=2, max_length=100), STORABLE]
GuildDescription = Annotated[str, Field(max_length=1000), STORABLE]
ChannelName = Annotated[
    str, Field(min_length=1, max_length=100, pattern=f"^[^{SPACE}#@:\\u0000]+$"), STORABLE
]
Topic = Annotated[str, Field(max_length=1024), STORABLE]
_DEFAULT_MAX_MESSAGE_LENGTH = config.ApiConfig.model_fields["max_message_length"].default
# Not blank. Its length limit is the server's `max_message_length`, checked by the service; the
# document states the default (a server configured otherwise enforces its own).
Content = Annotated[
    str,
    Field(
        min_length=1,
        pattern=f"^[^\\u0000]*[^{SPACE}\\u0000][^\\u0000]*$",
        json_schema_extra={"maxLength": _DEFAULT_MAX_MESSAGE_LENGTH},
    ),
    STORABLE,
]


class ProfileUpdate(Body):
    display_name: Annotated[str, Field(min_length=1, max_length=32), STORABLE] | None = None
    bio: Annotated[str, Field(max_length=190), STORABLE] | None = None
    avatar_url: Url | None = None


class DmCreate(Body):
    recipient_id: Snowflake


class GuildCreate(Body):
    name: GuildName
    description: GuildDescription | None = None
    icon_url: Url | None = None


class GuildUpdate(Body):
    name: NotNull[GuildName] = None
    description: GuildDescription | None = None
    icon_url: Url | None = None


class OverwriteBody(Body):
    type: Literal["role", "member"]
    allow: Bits = 0
    deny: Bits = 0


class OverwriteCreate(OverwriteBody):
    id: Snowflake


class ChannelCreate(Body):
    name: ChannelName
    type: Literal["text", "category"] = "text"
    topic: Topic | None = None
    parent_id: Snowflake | None = None
    position: Position | None = Field(None, description="null or absent: after the others")
    overwrites: list[OverwriteCreate] = Field(default_factory=list, max_length=100)


class ChannelUpdate(Body):
    name: NotNull[ChannelName] = None
    topic: Topic | None = Field(None, description="null clears the topic")
    parent_id: Snowflake | None = Field(None, description="null takes it out of its category")
    position: NotNull[Position] = None


class PositionChange(Body):
    id: Snowflake
    position: Position


class RoleCreate(Body):
    name: RoleName = "new role"
    permissions: Bits = 0
    color: Color = 0
    mentionable: bool = False
    hoist: bool = False


class RoleUpdate(Body):
    name: NotNull[RoleName] = None
    permissions: NotNull[Bits] = None
    color: NotNull[Color] = None
    mentionable: NotNull[bool] = None
    hoist: NotNull[bool] = None


class MemberUpdate(Body):
    nick: Annotated[str, Field(max_length=32), STORABLE] | None = Field(
        None, description="null clears the nick"
    )
    role_ids: NotNull[list[Snowflake]] = Field(None, max_length=250)


class BanCreate(Body):
    reason: Annotated[str, Field(max_length=512), STORABLE] | None = None


class InviteCreate(Body):
    max_age_seconds: Int = Field(86_400, ge=0, le=7 * 86_400, description="0: never expires")
    max_uses: Int = Field(0, ge=0, le=100, description="0: unlimited")


# A file's name as sent and shown: no path separators, no control characters.
Filename = Annotated[
    str,
    Field(min_length=1, max_length=255, pattern=r"^[^/\\\u0000-\u001f\u007f]+$"),
    STORABLE,
]


class UploadFile(Body):
    filename: Filename
    size: int = Field(ge=0, description="Bytes; at most max_attachment_bytes")
    content_type: Annotated[
        str, Field(min_length=3, max_length=255, pattern=r"^[\w.+-]+/[\w.+-]+$")
    ] = "application/octet-stream"


class UploadsCreate(Body):
    files: list[UploadFile] = Field(min_length=1, max_length=50)


class AttachmentRef(Body):
    upload_name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    filename: Filename | None = Field(None, description="Default: the name given at upload")


class MessageCreate(Body):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, strict=True)

    content: Content
    nonce: Annotated[str, Field(min_length=1, max_length=64), STORABLE] | None = None
    reply_to_id: Snowflake | None = None
    attachments: list[AttachmentRef] = Field(
        default_factory=list, max_length=50, description="Uploads to send (docs/api.md)"
    )


class MessageUpdate(Body):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, strict=True)

    content: Content
