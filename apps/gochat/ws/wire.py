"""Server-to-client WebSocket text frames, built by hand so that everything queued for one
connection in one loop tick goes out in a single write (one system call instead of one per
frame). Server frames are never masked and the gateway negotiates no extensions, so a frame is
just a header and the payload (RFC 6455 §5.2)."""

from __future__ import annotations

_TEXT_FIN = 0x81


def frame_header(length: int) -> bytes:
    if length < 126:
        return bytes((_TEXT_FIN, length))
    if length < 65536:
        return bytes((_TEXT_FIN, 126)) + length.to_bytes(2, "big")
    return bytes((_TEXT_FIN, 127)) + length.to_bytes(8, "big")


def text_frames(payloads: list[bytes]) -> bytes:
    """Concatenated text frames for `payloads`, ready for one transport write."""
    if len(payloads) == 1:
        payload = payloads[0]
        return frame_header(len(payload)) + payload
    parts: list[bytes] = []
    append = parts.append
    for payload in payloads:
        append(frame_header(len(payload)))
        append(payload)
    return b"".join(parts)
