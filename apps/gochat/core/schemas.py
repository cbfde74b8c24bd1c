"""Resource shapes shared by the REST API responses and the event payloads (one source of truth),
and the input types every request goes through (`Snowflake`, `Text`).

Ids are snowflakes: integers inside Python, decimal strings on the wire (JavaScript numbers lose
precision above 2**53), accepted as either on input: an integer in 1..2^63-1, or the same number
as a string of ASCII digits without leading zeros. The OpenAPI schema declares exactly that.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from gochat.core import ids


def decimal_pattern(maximum: int, *, minimum: int = 1) -> str:
    """A regular expression matching exactly the decimal strings of minimum..maximum (minimum 0
    or 1), without leading zeros: what a JSON Schema `pattern` can say of a number in a string."""
    top = str(maximum)
    alternatives = ["0"] if minimum == 0 else []
    if len(top) > 1:
        alternatives.append(f"[1-9][0-9]{{0,{len(top) - 2}}}")
    for index, digit in enumerate(top):
        low = 1 if index == 0 else 0
        if int(digit) > low:
            rest = len(top) - index - 1
            alternatives.append(f"{top[:index]}[{low}-{int(digit) - 1}][0-9]{{{rest}}}")
    alternatives.append(top)
    return "^(?:" + "|".join(alternatives) + ")$"


SNOWFLAKE_PATTERN = decimal_pattern(ids.MAX_ID)
_SNOWFLAKE_TEXT = re.compile(SNOWFLAKE_PATTERN)


def integral(value: object) -> object:
    """A JSON number with no fraction (`3.0`) as the integer it is (JSON Schema counts it as an
    integer); anything else unchanged, for the strict type check after it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Int = Annotated[int, BeforeValidator(integral)]
"""An integer in a request: `3` or `3.0`, never `true` or `"3"` (in a body; a query or path
parameter is read from its string)."""

# White space as str.isspace() sees it, spelt out: `\s` differs between the regex engines that
# read a pattern (JSON Schema's, pydantic's, Python's), and the services check with isspace().
SPACE = "\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"


def _parse_snowflake(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a snowflake id, not a boolean")
    value = integral(value)
    if isinstance(value, int):
        if not 0 < value <= ids.MAX_ID:
            raise ValueError("must be a snowflake id within 1..2^63-1")
        return value
    # ASCII digits only: str.isdigit() and int() also take other scripts' digits ("٣" is 3).
    if isinstance(value, str) and _SNOWFLAKE_TEXT.match(value):
        return int(value)
    raise ValueError(
        "must be a snowflake id: an integer within 1..2^63-1, or the same in ASCII digits "
        "without leading zeros"
    )


Snowflake = Annotated[
    int,
    BeforeValidator(_parse_snowflake),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": ids.MAX_ID},
                {"type": "string", "pattern": SNOWFLAKE_PATTERN},
            ]
        },
        mode="validation",
    ),
]

# What PostgreSQL cannot store in `text`: NUL; and what no UTF-8 store can: lone surrogates (a
# JSON body may carry "\ud800"). The schema pattern names NUL only: JSON Schema regexes work on
# UTF-16 code units in some validators, where a surrogate class would refuse every emoji.
NO_NUL_PATTERN = "^[^\\u0000]*$"


def storable_text(value: str) -> str:
    """`value` if every store can keep it, else ValueError saying which character is refused."""
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (U+0000)")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must not contain lone surrogates (U+D800-U+DFFF)") from None
    return value


class _Storable:
    """The one check every text a client sends goes through (body fields, path and query
    parameters, in the API and in auth): `storable_text` after the field's own constraints.
    Put it last, `Annotated[str, Field(max_length=...), STORABLE]`, so the constraints keep their
    own messages and schema. The schema gets NO_NUL_PATTERN unless the field has a pattern of its
    own, which must then exclude NUL itself."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(storable_text, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        declared = handler(schema)
        declared.setdefault("pattern", NO_NUL_PATTERN)
        return declared


STORABLE = _Storable()
Text = Annotated[str, STORABLE]
"""A text of any length that every store can keep; `Annotated[str, Field(...), STORABLE]` for
one with constraints."""
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
