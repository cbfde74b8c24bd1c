"""The gateway protocol: op codes, close codes, and the payload of every frame.

These models are the protocol's single definition: the gateway validates inbound frames with
them, the client library builds frames with them, and `docs/gateway.md` is checked against them
(tests/unit/ws/test_gateway_protocol_doc.py). Frames are JSON text `{"op", "d", "s", "t"}`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gochat.core import events, schemas
from gochat.core.schemas import Snowflake


class Op(enum.IntEnum):
    DISPATCH = 0  # server -> client: an event; `t` its type, `s` the session sequence
    HEARTBEAT = 1  # client -> server: `d` = last sequence received (server may ask for one)
    IDENTIFY = 2  # client -> server: start a new session
    PRESENCE_UPDATE = 3  # client -> server: set own status
    TYPING_START = 4  # client -> server: "I am typing in channel X"
    RESUME = 6  # client -> server: continue a dropped session
    RECONNECT = 7  # server -> client: reconnect (anywhere) and resume; used for drain
    REQUEST_GUILD_MEMBERS = 8  # client -> server: ask for a GUILD_MEMBERS_CHUNK
    INVALID_SESSION = 9  # server -> client: `d` = whether the session may still be resumed
    HELLO = 10  # server -> client: first frame, `d.heartbeat_interval` in ms
    HEARTBEAT_ACK = 11  # server -> client: answer to every heartbeat


INBOUND_OPS = frozenset(
    {
        Op.HEARTBEAT,
        Op.IDENTIFY,
        Op.PRESENCE_UPDATE,
        Op.TYPING_START,
        Op.RESUME,
        Op.REQUEST_GUILD_MEMBERS,
    }
)


@dataclass(frozen=True)
class CloseInfo:
    code: int
    name: str
    resumable: bool
    meaning: str


class CloseCode(enum.IntEnum):
    UNKNOWN_ERROR = 4000
    UNKNOWN_OPCODE = 4001
    DECODE_ERROR = 4002
    NOT_AUTHENTICATED = 4003
    AUTHENTICATION_FAILED = 4004
    ALREADY_AUTHENTICATED = 4005
    INVALID_SEQ = 4007
    RATE_LIMITED = 4008
    SESSION_TIMED_OUT = 4009
    TOO_SLOW = 4010
    FRAME_TOO_LARGE = 4011
    SESSION_REPLACED = 4012
    RECONNECT_REQUESTED = 4013


CLOSE_CODES: dict[CloseCode, CloseInfo] = {
    CloseCode(info.code): info
    for info in [
        CloseInfo(4000, "UNKNOWN_ERROR", True, "Something went wrong on the server; resume."),
        CloseInfo(4001, "UNKNOWN_OPCODE", True, "The client sent an op the server does not take."),
        CloseInfo(4002, "DECODE_ERROR", True, "A frame is not valid JSON or a payload is invalid; "
                  "the close reason names the field."),
        CloseInfo(4003, "NOT_AUTHENTICATED", False, "An op other than IDENTIFY/RESUME/HEARTBEAT "
                  "came before the session was established, or IDENTIFY did not arrive in time."),
        CloseInfo(4004, "AUTHENTICATION_FAILED", False, "The token is malformed, expired, "
                  "or signed by an unknown key; get a new token and IDENTIFY."),
        CloseInfo(4005, "ALREADY_AUTHENTICATED", True, "A second IDENTIFY or RESUME on one "
                  "connection."),
        CloseInfo(4007, "INVALID_SEQ", False, "RESUME or HEARTBEAT named a sequence the "
                  "session never sent."),
        CloseInfo(4008, "RATE_LIMITED", True, "More than 120 frames in 60 seconds."),
        CloseInfo(4009, "SESSION_TIMED_OUT", True, "No heartbeat within 1.5 heartbeat intervals."),
        CloseInfo(4010, "TOO_SLOW", True, "The client did not read fast enough and its send "
                  "queue overflowed; resume to get what it missed."),
        CloseInfo(4011, "FRAME_TOO_LARGE", True, "An inbound frame exceeded max_frame_bytes."),
        CloseInfo(4012, "SESSION_REPLACED", False, "The session was resumed on another "
                  "connection."),
        CloseInfo(4013, "RECONNECT_REQUESTED", True, "Sent after RECONNECT: the gateway is "
                  "draining; resume on any gateway."),
    ]
}  # fmt: skip


class _Inbound(BaseModel):
    model_config = ConfigDict(extra="forbid")


Status = Literal["online", "idle", "dnd", "offline"]


class PresenceRequest(_Inbound):
    status: Status = "online"


class Identify(_Inbound):
    token: str = Field(min_length=1, max_length=4096)
    properties: dict[str, str] = Field(default_factory=dict, max_length=16)
    presence: PresenceRequest | None = None


class Resume(_Inbound):
    token: str = Field(min_length=1, max_length=4096)
    session_id: str = Field(min_length=1, max_length=64)
    seq: int = Field(ge=0)


class TypingRequest(_Inbound):
    channel_id: Snowflake


class RequestGuildMembers(_Inbound):
    guild_id: Snowflake
    after: Snowflake | None = None
    limit: int = Field(100, ge=1, le=1000)


INBOUND_PAYLOADS: dict[Op, type[BaseModel] | None] = {
    Op.HEARTBEAT: None,  # d: int | null
    Op.IDENTIFY: Identify,
    Op.PRESENCE_UPDATE: PresenceRequest,
    Op.TYPING_START: TypingRequest,
    Op.RESUME: Resume,
    Op.REQUEST_GUILD_MEMBERS: RequestGuildMembers,
}


class Hello(BaseModel):
    heartbeat_interval: int


class Ready(BaseModel):
    v: int = events.SCHEMA_VERSION
    session_id: str
    user: schemas.User
    guilds: list[schemas.Guild]
    channels: list[schemas.Channel] = Field(
        description="Every channel the user can view: guild channels and DMs."
    )
    read_states: list[schemas.ReadState]
    heartbeat_interval: int


class Resumed(BaseModel):
    session_id: str
    replayed: int


class GuildMembersChunk(BaseModel):
    guild_id: Snowflake
    members: list[schemas.Member]
    presences: list[events.PresenceUpdated] = Field(
        default_factory=list, description="The members' presence, shared by every gateway."
    )


# Dispatch types only the gateway emits (the rest are core.events.EVENT_PAYLOADS).
GATEWAY_DISPATCHES: dict[str, type[BaseModel]] = {
    "READY": Ready,
    "RESUMED": Resumed,
    "GUILD_MEMBERS_CHUNK": GuildMembersChunk,
}


class ProtocolError(Exception):
    """An inbound frame the gateway refuses; closes with `code`, `reason` names the problem."""

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason[:120]  # a close reason fits in 123 bytes


@dataclass(frozen=True, slots=True)
class Inbound:
    op: Op
    d: Any


def decode(raw: bytes | str) -> Inbound:
    """Parse one inbound frame and validate its payload; ProtocolError otherwise."""
    try:
        frame = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ProtocolError(CloseCode.DECODE_ERROR, "frame is not valid JSON") from None
    if not isinstance(frame, dict):
        raise ProtocolError(CloseCode.DECODE_ERROR, "frame must be a JSON object")
    op = frame.get("op")
    if not isinstance(op, int) or isinstance(op, bool):
        raise ProtocolError(CloseCode.DECODE_ERROR, "op: must be an integer")
    if op not in INBOUND_OPS:
        raise ProtocolError(CloseCode.UNKNOWN_OPCODE, f"op: unknown op {op}")
    d = frame.get("d")
    model = INBOUND_PAYLOADS[Op(op)]
    if model is None:
        if d is not None and (not isinstance(d, int) or isinstance(d, bool)):
            raise ProtocolError(CloseCode.DECODE_ERROR, "d: heartbeat takes an integer or null")
        return Inbound(Op(op), d)
    try:
        return Inbound(Op(op), model.model_validate(d))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in ("d", *first["loc"]))
        reason = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
        raise ProtocolError(CloseCode.DECODE_ERROR, f"{field}: {reason}") from None


def encode(op: Op, d: Any = None, *, s: int | None = None, t: str | None = None) -> bytes:
    """A non-dispatch frame (or a one-off dispatch) as JSON bytes."""
    return orjson.dumps({"op": int(op), "d": d, "s": s, "t": t})


def dispatch_head(event_type: str, data_json: bytes) -> bytes:
    """Everything of a DISPATCH frame but the sequence number: built once per event and shared
    by every recipient, which appends `<seq>}`."""
    return b'{"op":0,"t":"' + event_type.encode() + b'","d":' + data_json + b',"s":'


def model_json(model: BaseModel) -> bytes:
    return orjson.dumps(model.model_dump(mode="json"))
