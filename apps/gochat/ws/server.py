"""The WebSocket server library behind the gateway: picows (chosen by measurement, see
bench/ws/README.md). Only this module imports it; the gateway sees the `session.Transport`
seam and the four callbacks. The same port answers /healthz, /readyz and /metrics.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import picows
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gochat.ws.gateway import Gateway
from gochat.ws.protocol import CloseCode
from gochat.ws.session import Session

WS_PATH = "/ws"
# Frames above this are refused by picows itself (1009); below it the gateway applies its own
# `max_frame_bytes` and answers with FRAME_TOO_LARGE (4011).
TRANSPORT_FRAME_LIMIT = 1024 * 1024
READ_BUFFER_BYTES = 1024  # grows on demand; a small start keeps idle connections cheap


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


_Routed = picows.WSListener | picows.WSUpgradeResponseWithListener | None


def _http(status: int, body: bytes, content_type: str) -> picows.WSUpgradeResponseWithListener:
    headers = {"Content-Type": content_type}
    if status < 400:
        response = picows.WSUpgradeResponse.create_ok_response(body, headers)
    else:
        response = picows.WSUpgradeResponse.create_error_response(status, body, headers)
    return picows.WSUpgradeResponseWithListener(response, None)


def _json(status: int, value: object) -> picows.WSUpgradeResponseWithListener:
    return _http(status, json.dumps(value).encode(), "application/json")


def listener_factory(
    gateway: Gateway, *, readiness: Callable[[], dict[str, str]]
) -> Callable[[picows.WSUpgradeRequest], _Routed]:
    def route(request: picows.WSUpgradeRequest) -> _Routed:
        url = urlsplit(request.path.decode("latin-1"))
        if url.path == WS_PATH:
            if gateway.draining:
                return _json(503, {"error": {"code": "draining", "message": "gateway draining"}})
            token = parse_qs(url.query).get("token", [None])[0]
            return _Connection(gateway, token)
        if url.path == "/healthz":
            return _json(200, {"status": "ok"})
        if url.path == "/readyz":
            failing = readiness()
            if failing:
                return _json(503, {"error": {"code": "not_ready", "details": failing}})
            return _json(200, {"status": "ready"})
        if url.path == "/metrics":
            return _http(200, generate_latest(), CONTENT_TYPE_LATEST)
        return _json(404, {"error": {"code": "not_found", "message": "no such path"}})

    return route


async def serve(
    gateway: Gateway, *, host: str, port: int, readiness: Callable[[], dict[str, str]]
) -> asyncio.Server:
    """Listen with SO_REUSEPORT, so several gateway processes can share one port."""
    # picows logs every connection at INFO: far too much at 10k connections.
    logging.getLogger("picows").setLevel(max(logging.WARNING, logging.getLogger().level))
    return await picows.ws_create_server(
        listener_factory(gateway, readiness=readiness),
        host,
        port,
        max_frame_size=TRANSPORT_FRAME_LIMIT,
        read_buffer_init_size=READ_BUFFER_BYTES,
        websocket_handshake_timeout=10,
        reuse_port=hasattr(socket, "SO_REUSEPORT"),
    )
