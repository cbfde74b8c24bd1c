"""The gateway's own minimal WebSocket server, spoken to by an independent client library
(`websockets`) and by hand for what a well-behaved client never sends. Loopback only."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from gochat.ws import native, wire


class Recorder(native.Handler):
    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self.refusals: list[str] = []
        self.tokens: list[str | None] = []
        self.disconnects = 0

    def connected(self, conn: native.NativeConnection, token: str | None) -> Any:
        self.tokens.append(token)
        return object()

    def received(self, conn: native.NativeConnection, payload: bytes) -> None:
        self.payloads.append(payload)
        conn.write(wire.text_frames([b"echo:" + payload]))

    def refused(self, conn: native.NativeConnection, reason: str) -> None:
        self.refusals.append(reason)
        conn.close(4002, reason)

    def disconnected(self, conn: native.NativeConnection) -> None:
        self.disconnects += 1


def _route(path: str, query: dict[str, list[str]]) -> tuple[Any, ...]:
    if path == "/ws":
        return ("ws", query.get("token", [None])[0])
    if path == "/healthz":
        return (200, "application/json", b'{"status":"ok"}')
    return (404, "application/json", b"{}")


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Recorder]]:
    handler = Recorder()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    srv = await native.serve(handler, _route, host="127.0.0.1", port=port, reuse_port=False)
    try:
        yield f"127.0.0.1:{port}", handler
    finally:
        srv.close()


async def test_text_frames_round_trip_and_token_reaches_the_handler(server) -> None:
    address, handler = server
    async with websockets.connect(f"ws://{address}/ws?token=abc", compression=None) as ws:
        for size in (5, 300, 70_000):  # the three length encodings
            await ws.send("x" * size)
            assert await ws.recv() == "echo:" + "x" * size
        await ws.ping()
    assert handler.tokens == ["abc"]
    assert [len(p) for p in handler.payloads] == [5, 300, 70_000]
    await asyncio.sleep(0.05)
    assert handler.disconnects == 1


async def test_probes_and_unknown_paths_answer_plain_http(server) -> None:
    address, _ = server
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"http://{address}/healthz")).json() == {"status": "ok"}
        assert (await client.get(f"http://{address}/nope")).status_code == 404
        assert (await client.get(f"http://{address}/ws")).status_code == 426


async def test_binary_frames_are_refused(server) -> None:
    address, handler = server
    async with websockets.connect(f"ws://{address}/ws", compression=None) as ws:
        await ws.send(b"\x00\x01")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4002
    assert handler.refusals == ["frames are single JSON texts"]


async def test_unmasked_client_frames_close_the_connection(server) -> None:
    address, _ = server
    host, port = address.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    response = await reader.readuntil(b"\r\n\r\n")
    assert b"101" in response and b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in response  # RFC's example
    writer.write(b"\x81\x02hi")  # no mask bit
    closing = await reader.read(100)
    assert closing[0] == 0x88 and int.from_bytes(closing[2:4], "big") == 1002
    writer.close()


class _GoneTransport:
    """Like uvloop's transport once the peer is gone: every write raises."""

    def is_closing(self) -> bool:
        return True

    def write(self, data: bytes) -> None:
        raise RuntimeError("unable to perform operation on a closed transport")

    def close(self) -> None:
        raise RuntimeError("unable to perform operation on a closed transport")


def test_writing_to_a_connection_whose_peer_went_is_a_no_op() -> None:
    # A flush or a detach may still write to a session between the socket closing and
    # connection_lost: under uvloop that write raised and the detach never stored the
    # resume record.
    conn = native.NativeConnection(Recorder(), _route)
    conn.transport = _GoneTransport()  # type: ignore[assignment]
    conn.write(b"frame")
    conn.close(1000, "bye")
    conn.write(b"after close")
