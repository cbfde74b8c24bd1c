"""Inbound frames are validated against the protocol models; problems name the field."""

from __future__ import annotations

import json

import orjson
import pytest

from gochat.ws import protocol, wire
from gochat.ws.protocol import CloseCode, Op


@pytest.mark.parametrize(
    ("raw", "code", "reason"),
    [
        (b"{", CloseCode.DECODE_ERROR, "frame is not valid JSON"),
        (b"[]", CloseCode.DECODE_ERROR, "frame must be a JSON object"),
        (b'{"op": "2"}', CloseCode.DECODE_ERROR, "op: must be an integer"),
        (b'{"op": true}', CloseCode.DECODE_ERROR, "op: must be an integer"),
        (b'{"op": 5}', CloseCode.UNKNOWN_OPCODE, "op: unknown op 5"),
        (b'{"op": 10, "d": {}}', CloseCode.UNKNOWN_OPCODE, "op: unknown op 10"),
        (b'{"op": 1, "d": "x"}', CloseCode.DECODE_ERROR, "d: heartbeat takes an integer or null"),
        (b'{"op": 2, "d": null}', CloseCode.DECODE_ERROR, "d: Input should be a valid dictionary"),
        (b'{"op": 2, "d": {"token": ""}}', CloseCode.DECODE_ERROR, "d.token: String should"),
        (b'{"op": 2, "d": {"token": "t", "x": 1}}', CloseCode.DECODE_ERROR, "d.x: unknown field"),
        (b'{"op": 3, "d": {"status": "away"}}', CloseCode.DECODE_ERROR, "d.status: Input should"),
        (b'{"op": 4, "d": {"channel_id": "abc"}}', CloseCode.DECODE_ERROR, "d.channel_id:"),
        (b'{"op": 6, "d": {"token": "t", "session_id": "s"}}', CloseCode.DECODE_ERROR, "d.seq:"),
        (b'{"op": 8, "d": {"guild_id": "1", "limit": 0}}', CloseCode.DECODE_ERROR, "d.limit:"),
    ],
)
def test_bad_frames_name_the_problem(raw: bytes, code: CloseCode, reason: str) -> None:
    with pytest.raises(protocol.ProtocolError) as refused:
        protocol.decode(raw)
    assert refused.value.code == code
    assert refused.value.reason.startswith(reason)


def test_good_frames_decode_to_their_models() -> None:
    identify = protocol.decode(b'{"op": 2, "d": {"token": "t", "presence": {"status": "dnd"}}}')
    assert identify.op is Op.IDENTIFY and identify.d.presence.status == "dnd"
    assert protocol.decode(b'{"op": 1, "d": 7}').d == 7
    assert protocol.decode(b'{"op": 1}').d is None
    typing = protocol.decode(b'{"op": 4, "d": {"channel_id": "123"}}')
    assert typing.d.channel_id == 123


def test_dispatch_frame_is_shared_except_the_sequence() -> None:
    head = protocol.dispatch_head("MESSAGE_CREATE", orjson.dumps({"content": "hi"}))
    frame = json.loads(head + b"42}")
    assert frame == {"op": 0, "t": "MESSAGE_CREATE", "d": {"content": "hi"}, "s": 42}


def test_close_codes_are_in_the_private_range_and_all_described() -> None:
    assert set(protocol.CLOSE_CODES) == set(CloseCode)
    for code, info in protocol.CLOSE_CODES.items():
        assert 4000 <= code <= 4999 and info.name == code.name and info.meaning


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 100_000])
def test_server_frames_carry_the_payload_length(size: int) -> None:
    payload = b"x" * size
    frame = wire.text_frames([payload])
    assert frame[0] == 0x81
    assert frame.endswith(payload)
    header = len(frame) - size
    assert header == (2 if size < 126 else 4 if size < 65536 else 10)
