"""The seam between the gateway and a WebSocket server library. Two implementations, chosen by
measurement (bench/ws/SERVER_CHOICE.md):

- `native` (default): the gateway's own minimal RFC 6455 server on an asyncio Protocol
  (ws/native.py): ~2 KB per idle connection, and the same delivery speed, because the gateway
  frames and coalesces its output itself and inbound traffic is tiny;
- `picows`: the fastest general-purpose library measured (~14 KB per idle connection).

Both serve /healthz, /readyz and /metrics on the same port, and listen with SO_REUSEPORT so
several gateway processes can share it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from collections.abc import Callable
from typing import Any, Literal

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from gochat.ws import native
from gochat.ws.gateway import Gateway
from gochat.ws.protocol import CloseCode
from gochat.ws.session import Session

WS_PATH = "/ws"
Library = Literal["native", "picows"]
DEFAULT_LIBRARY: Library = "native"
Readiness = Callable[[], dict[str, str]]


def route(
    gateway: Gateway, readiness: Readiness
) -> Callable[[str, dict[str, list[str]]], tuple[Any, ...]]:
    """path, query -> ("ws", token) to upgrade, or (status, content type, body) to answer."""

    def answer(path: str, query: dict[str, list[str]]) -> tuple[Any, ...]:
        if path == WS_PATH:
            if gateway.draining:
                return _json(503, {"error": {"code": "draining", "message": "gateway draining"}})
            return ("ws", query.get("token", [None])[0])
        if path == "/healthz":
            return _json(200, {"status": "ok"})
        if path == "/readyz":
            failing = readiness()
            if failing:
                return _json(503, {"error": {"code": "not_ready", "details": failing}})
            return _json(200, {"status": "ready"})
        if path == "/metrics":
            return (200, CONTENT_TYPE_LATEST, _metrics())
        return _json(404, {"error": {"code": "not_found", "message": "no such path"}})

    return answer


def _metrics() -> bytes:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:  # set by `gochat ws --workers N`
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()


def _json(status: int, value: object) -> tuple[int, str, bytes]:
    return (status, "application/json", json.dumps(value).encode())


class _NativeHandler(native.Handler):
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def connected(self, conn: native.NativeConnection, token: str | None) -> Session:
        return self._gateway.connected(conn, token=token)

    def received(self, conn: native.NativeConnection, payload: bytes) -> None:
        self._gateway.received(conn.session, payload)

    def oversized(self, conn: native.NativeConnection) -> None:
        self._gateway.frame_too_large(conn.session)

    def closed_by_client(self, conn: native.NativeConnection, code: int) -> None:
        self._gateway.closed_by_client(conn.session, code)

    def refused(self, conn: native.NativeConnection, reason: str) -> None:
        self._gateway.close(conn.session, CloseCode.DECODE_ERROR, reason)

    def disconnected(self, conn: native.NativeConnection) -> None:
        self._gateway.disconnected(conn.session)

    def pause_writing(self, conn: native.NativeConnection) -> None:
        self._gateway.pause_writing(conn.session)

    def resume_writing(self, conn: native.NativeConnection) -> None:
        self._gateway.resume_writing(conn.session)


async def serve(
    gateway: Gateway,
    *,
    host: str,
    port: int,
    readiness: Readiness,
    library: Library = DEFAULT_LIBRARY,
) -> asyncio.Server:
    reuse_port = hasattr(socket, "SO_REUSEPORT")
    if library == "picows":
        from gochat.ws import server_picows

        # picows logs every connection at INFO: far too much at 10k connections.
        logging.getLogger("picows").setLevel(max(logging.WARNING, logging.getLogger().level))
        return await server_picows.serve(
            gateway, route(gateway, readiness), host=host, port=port, reuse_port=reuse_port
        )
    return await native.serve(
        _NativeHandler(gateway), route(gateway, readiness), host=host, port=port,
        reuse_port=reuse_port,
    )  # fmt: skip
