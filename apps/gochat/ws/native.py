"""A minimal WebSocket server (RFC 6455) on a plain asyncio Protocol: the gateway's alternative
to picows, for the smallest memory per idle connection.

Only what the gateway needs: HTTP/1.1 upgrade on one path plus plain GET answers for the probes,
masked client frames (text, close, ping, pong), no extensions, no fragmentation. Server frames
are written by the gateway already framed (ws/wire.py). Inbound traffic is tiny (heartbeats,
identify), so parsing it in Python costs little; what matters is that an idle connection holds
only the transport, this protocol object (slots) and the session.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_REQUEST_BYTES = 16 * 1024
HANDSHAKE_TIMEOUT_SECONDS = 10.0
# Refuse anything bigger outright, from its header, instead of buffering it (the handler closes
# with the gateway's FRAME_TOO_LARGE, as for frames over its own, smaller, max_frame_bytes).
MAX_FRAME_BYTES = 1024 * 1024

# route(path, query) -> ("ws", token) to upgrade, or (status, content_type, body) to answer.
Route = Callable[[str, dict[str, list[str]]], tuple[Any, ...]]


class Handler:
    """What the server calls; implemented by ws/server.py over the Gateway."""

    def connected(self, conn: NativeConnection, token: str | None) -> Any: ...
    def received(self, conn: NativeConnection, payload: bytes) -> None: ...
    def oversized(self, conn: NativeConnection) -> None: ...
    def closed_by_client(self, conn: NativeConnection, code: int) -> None: ...
    def refused(self, conn: NativeConnection, reason: str) -> None: ...
    def disconnected(self, conn: NativeConnection) -> None: ...
    def pause_writing(self, conn: NativeConnection) -> None: ...
    def resume_writing(self, conn: NativeConnection) -> None: ...


def _close_frame(code: int, reason: bytes) -> bytes:
    payload = code.to_bytes(2, "big") + reason[:123]
    return bytes((0x88, len(payload))) + payload


def _unmask(data: bytes, mask: bytes) -> bytes:
    n = len(data)
    if n == 0:
        return data
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


# Close codes that only report (no code, abnormal closure, TLS failure): never sent in a frame.
_NOT_ON_THE_WIRE = frozenset({1005, 1006, 1015})
CLOSE_LINGER_SECONDS = 1.0  # how long a closed connection waits for the client's own close


class NativeConnection(asyncio.Protocol):
    __slots__ = ("_buffer", "_closing", "_handler", "_route", "_timer", "session", "transport")

    def __init__(self, handler: Handler, route: Route) -> None:
        self._handler = handler
        self._route = route
        self._buffer = b""
        self._closing = False
        self._timer: asyncio.TimerHandle | None = None
        self.session: Any = None  # set once upgraded
        self.transport: asyncio.Transport | None = None

    # --- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport is a Transport by behaviour but not by inheritance.
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._timer = asyncio.get_running_loop().call_later(HANDSHAKE_TIMEOUT_SECONDS, self._abort)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        buffer = self._buffer + data if self._buffer else data
        if self.session is None:
            rest = self._handshake(buffer)
            if rest is None or self.session is None:
                return
            buffer = rest
        self._buffer = self._frames(buffer)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True  # nothing can be written any more
        if self._timer is not None:
            self._timer.cancel()
        if self.session is not None:
            self._handler.disconnected(self)

    def pause_writing(self) -> None:
        if self.session is not None:
            self._handler.pause_writing(self)

    def resume_writing(self) -> None:
        if self.session is not None:
            self._handler.resume_writing(self)

    # --- session.Transport ---------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        # is_closing(): the peer may have gone (or we aborted) before connection_lost runs;
        # uvloop raises on a write to a closed transport where asyncio only ignores it.
        if self.transport is not None and not self._closing and not self.transport.is_closing():
            self.transport.write(data)

    def close(self, code: int, reason: str) -> None:
        """Send a close frame and close the TCP connection once the buffer is written."""
        if self.transport is None or self._closing or self.transport.is_closing():
            self._closing = True
            return
        self.transport.write(_close_frame(code, reason.encode()))
        self._closing = True
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        # Half-close, and close once the client does (or after a linger): closing at once while
        # its frames sit unread in our receive buffer makes the kernel send RST, and a client
        # can lose our close frame, and its code, to it. What still arrives is discarded.
        self.transport.write_eof()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(
            CLOSE_LINGER_SECONDS, self.transport.close
        )

    # --- HTTP ----------------------------------------------------------------------------------

    def _handshake(self, buffer: bytes) -> bytes | None:
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_REQUEST_BYTES:
                self._answer(431, "text/plain", b"request header too large")
                return None
            self._buffer = buffer
            return None
        head, rest = buffer[:end].decode("latin-1"), buffer[end + 4 :]
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or parts[0] != "GET":
            self._answer(405, "text/plain", b"only GET")
            return None
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        url = urlsplit(parts[1])
        routed = self._route(url.path, parse_qs(url.query))
        if routed[0] != "ws":
            self._answer(*routed)
            return None
        key = headers.get("sec-websocket-key")
        if (
            headers.get("upgrade", "").lower() != "websocket"
            or "upgrade" not in headers.get("connection", "").lower()
            or headers.get("sec-websocket-version") != "13"
            or not key
        ):
            self._answer(
                426, "text/plain", b"WebSocket upgrade required", b"Upgrade: websocket\r\n"
            )
            return None
        accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest())
        assert self.transport is not None
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.session = self._handler.connected(self, routed[1])
        return rest

    def _answer(self, status: int, content_type: str, body: bytes, extra: bytes = b"") -> None:
        assert self.transport is not None
        reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}.get(status, "Error")
        self.transport.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n".encode()
            + extra
            + b"\r\n"
            + body
        )
        self._closing = True
        self.transport.close()

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # --- WebSocket frames ----------------------------------------------------------------------

    def _frames(self, buffer: bytes) -> bytes:
        while len(buffer) >= 2 and not self._closing:
            first, second = buffer[0], buffer[1]
            length = second & 0x7F
            offset = 2
            if length == 126:
                if len(buffer) < 4:
                    break
                length, offset = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                if len(buffer) < 10:
                    break
                length, offset = int.from_bytes(buffer[2:10], "big"), 10
            if not second & 0x80:
                self.close(1002, "client frames must be masked")
                return b""
            if length > MAX_FRAME_BYTES:
                self._handler.oversized(self)
                return b""
            end = offset + 4 + length
            if len(buffer) < end:
                break
            payload = _unmask(buffer[offset + 4 : end], buffer[offset : offset + 4])
            buffer = buffer[end:]
            self._frame(first, payload)
        return buffer

    def _frame(self, first: int, payload: bytes) -> None:
        opcode = first & 0x0F
        if opcode == 0x1 and first & 0x80:
            self._handler.received(self, payload)
        elif opcode == 0x8:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self._handler.closed_by_client(self, code)
            echo = code if 1000 <= code < 5000 and code not in _NOT_ON_THE_WIRE else 1000
            self.close(echo, "")
        elif opcode == 0x9:
            self.write(bytes((0x8A, len(payload))) + payload)
        elif opcode != 0xA:
            self._handler.refused(self, "frames are single JSON texts")


async def serve(
    handler: Handler, route: Route, *, host: str, port: int, reuse_port: bool
) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: NativeConnection(handler, route), host, port, reuse_port=reuse_port, backlog=4096
    )
