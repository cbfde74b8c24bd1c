"""The gateway on picows (the alternative to ws/native.py; see ws/server.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import picows

from gochat.ws.gateway import Gateway
from gochat.ws.protocol import CloseCode
from gochat.ws.session import Session

# Frames above this are refused by picows itself, from their header, with 1009 (MESSAGE_TOO_BIG:
# picows has no hook to choose the code; docs/gateway.md says so); below it the gateway applies
# its own `max_frame_bytes` and answers with FRAME_TOO_LARGE (4011), as the native server does
# for every size.
TRANSPORT_FRAME_LIMIT = 1024 * 1024
READ_BUFFER_BYTES = 1024  # grows on demand; a small start keeps idle connections cheaper
Routed = picows.WSListener | picows.WSUpgradeResponseWithListener | None


class _Connection(picows.WSListener):
    """One WebSocket: forwards frames to the gateway and implements `session.Transport`."""

    def __init__(self, gateway: Gateway, token: str | None) -> None:
        super().__init__()
        self._gateway = gateway
        self._token = token
        self._ws: picows.WSTransport | None = None
        self._session: Session | None = None

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self._ws = transport
        self._session = self._gateway.connected(self, token=self._token)

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        session = self._session
        if session is None:
            return
        kind = frame.msg_type
        if kind is picows.WSMsgType.TEXT and frame.fin:
            self._gateway.received(session, frame.get_payload_as_bytes())
        elif kind is picows.WSMsgType.CLOSE:
            self._gateway.closed_by_client(session, frame.get_close_code().value)
            transport.send_close(frame.get_close_code())
            transport.disconnect()
        elif kind in (picows.WSMsgType.BINARY, picows.WSMsgType.CONTINUATION) or not frame.fin:
            self._gateway.close(session, CloseCode.DECODE_ERROR, "frames are single JSON texts")

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        if self._session is not None:
            self._gateway.disconnected(self._session)

    def pause_writing(self) -> None:
        if self._session is not None:
            self._gateway.pause_writing(self._session)

    def resume_writing(self) -> None:
        if self._session is not None:
            self._gateway.resume_writing(self._session)

    # session.Transport
    def write(self, data: bytes) -> None:
        if self._ws is not None and not self._ws.is_disconnected:
            self._ws.underlying_transport.write(data)

    def close(self, code: int, reason: str) -> None:
        ws = self._ws
        if ws is not None and not ws.is_disconnected:
            ws.send_close(picows.WSCloseCode(code), reason.encode()[:123])
            ws.disconnect(graceful=True)


def _http(status: int, content_type: str, body: bytes) -> picows.WSUpgradeResponseWithListener:
    headers = {"Content-Type": content_type}
    if status < 400:
        response = picows.WSUpgradeResponse.create_ok_response(body, headers)
    else:
        response = picows.WSUpgradeResponse.create_error_response(status, body, headers)
    return picows.WSUpgradeResponseWithListener(response, None)


async def serve(
    gateway: Gateway,
    route: Callable[[str, dict[str, list[str]]], tuple[Any, ...]],
    *,
    host: str,
    port: int,
    reuse_port: bool,
) -> asyncio.Server:
    def factory(request: picows.WSUpgradeRequest) -> Routed:
        url = urlsplit(request.path.decode("latin-1"))
        routed = route(url.path, parse_qs(url.query))
        if routed[0] == "ws":
            return _Connection(gateway, routed[1])
        return _http(*routed)

    return await picows.ws_create_server(
        factory,
        host,
        port,
        max_frame_size=TRANSPORT_FRAME_LIMIT,
        read_buffer_init_size=READ_BUFFER_BYTES,
        websocket_handshake_timeout=10,
        reuse_port=reuse_port,
    )
