# ruff: noqa: ASYNC109  (`timeout=` is the expected spelling in a client API)
"""`GatewayClient`: one connection to the gateway, with heartbeats, sequence tracking, resume.

Every frame the server sends is parsed once by a reader task; dispatches go to a queue that
`next_dispatch` / `wait_for` read. `seq` is the last sequence received, which is what RESUME
and heartbeats send. `gaps` counts dispatches whose sequence skipped a number (must stay 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from gochat.ws.protocol import Op

# Dispatches that repeat the current sequence instead of taking a new one.
UNSEQUENCED = frozenset({"READY", "RESUMED", "GUILD_MEMBERS_CHUNK", "TYPING_START"})


@dataclass(frozen=True)
class Dispatch:
    t: str
    d: Any
    s: int | None


class GatewayClosed(Exception):
    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"gateway closed the connection: {code} {reason}")
        self.code = code
        self.reason = reason


class InvalidSession(Exception):
    def __init__(self, resumable: bool) -> None:
        super().__init__(f"invalid session (resumable={resumable})")
        self.resumable = resumable


class GatewayClient:
    def __init__(self, ws: ClientConnection, *, auto_heartbeat: bool) -> None:
        self.ws = ws
        self.seq = 0
        self.gaps = 0
        self.session_id: str | None = None
        self.heartbeat_interval: float | None = None
        self.heartbeat_acks = 0
        self.reconnect_requested = False
        self.close_code: int | None = None
        self.close_reason = ""
        self._dispatches: asyncio.Queue[Dispatch | InvalidSession | GatewayClosed] = asyncio.Queue()
        self._hello = asyncio.Event()
        self._closed = asyncio.Event()
        self._auto_heartbeat = auto_heartbeat
        self._reader = asyncio.create_task(self._read())
        self._beater: asyncio.Task[None] | None = None
        self._answer: asyncio.Task[None] | None = None  # reply to a server-requested beat

    @classmethod
    async def connect(
        cls, url: str, *, auto_heartbeat: bool = True, max_size: int | None = 2**24
    ) -> GatewayClient:
        ws = await websockets.connect(url, max_size=max_size, compression=None, ping_interval=None)
        client = cls(ws, auto_heartbeat=auto_heartbeat)
        await asyncio.wait_for(client._hello.wait(), 10)
        return client

    # --- the session ----------------------------------------------------------------------------

    async def identify(
        self, token: str, *, status: str | None = None, timeout: float = 10
    ) -> dict[str, Any]:
        """Send IDENTIFY and return READY's payload."""
        payload: dict[str, Any] = {"token": token, "properties": {"client": "gochat-python"}}
        if status is not None:
            payload["presence"] = {"status": status}
        await self.send(Op.IDENTIFY, payload)
        ready = await self.wait_for("READY", timeout=timeout)
        self.session_id = ready.d["session_id"]
        return dict(ready.d)

    async def resume(
        self, token: str, session_id: str, seq: int, *, timeout: float = 10
    ) -> list[Dispatch]:
        """Send RESUME; return the replayed dispatches (RESUMED excluded). InvalidSession when
        the server refuses."""
        self.session_id, self.seq = session_id, seq
        await self.send(Op.RESUME, {"token": token, "session_id": session_id, "seq": seq})
        replayed: list[Dispatch] = []
        while True:
            event = await self.next_dispatch(timeout=timeout)
            if event.t == "RESUMED":
                return replayed
            replayed.append(event)

    async def resume_elsewhere(
        self, url: str, token: str, *, timeout: float = 10
    ) -> tuple[GatewayClient, list[Dispatch]]:
        """After RECONNECT or a dropped connection: a new connection to `url` (any gateway)
        resuming this session; returns it and the replayed dispatches. InvalidSession when the
        session cannot be resumed (identify on the returned client instead)."""
        if self.session_id is None:
            raise RuntimeError("no session to resume: identify first")
        await self.close()
        again = await GatewayClient.connect(url, auto_heartbeat=self._auto_heartbeat)
        replayed = await again.resume(token, self.session_id, self.seq, timeout=timeout)
        return again, replayed

    async def send(self, op: Op | int, d: Any = None) -> None:
        await self.ws.send(json.dumps({"op": int(op), "d": d}))

    async def heartbeat(self) -> None:
        await self.send(Op.HEARTBEAT, self.seq or None)

    async def typing(self, channel_id: int | str) -> None:
        await self.send(Op.TYPING_START, {"channel_id": str(channel_id)})

    async def set_presence(self, status: str) -> None:
        await self.send(Op.PRESENCE_UPDATE, {"status": status})

    async def request_guild_members(self, guild_id: int | str, *, limit: int = 100) -> None:
        await self.send(Op.REQUEST_GUILD_MEMBERS, {"guild_id": str(guild_id), "limit": limit})

    # --- reading ----------------------------------------------------------------------------

    async def next_dispatch(self, *, timeout: float = 10) -> Dispatch:
        item = await asyncio.wait_for(self._dispatches.get(), timeout)
        if isinstance(item, Exception):
            raise item
        return item

    async def wait_for(
        self, event_type: str, *, timeout: float = 10, where: dict[str, Any] | None = None
    ) -> Dispatch:
        """The next dispatch of `event_type` (whose payload matches `where`), skipping others."""
        deadline = time.monotonic() + timeout
        while True:
            event = await self.next_dispatch(timeout=max(0.01, deadline - time.monotonic()))
            if event.t == event_type and all(
                isinstance(event.d, dict) and event.d.get(k) == v for k, v in (where or {}).items()
            ):
                return event

    async def drain_dispatches(self, *, quiet: float = 0.3) -> list[Dispatch]:
        """Everything that arrives until nothing has for `quiet` seconds."""
        events = []
        with contextlib.suppress(asyncio.TimeoutError):
            while True:
                events.append(await self.next_dispatch(timeout=quiet))
        return events

    async def wait_closed(self, *, timeout: float = 10) -> tuple[int | None, str]:
        await asyncio.wait_for(self._closed.wait(), timeout)
        return self.close_code, self.close_reason

    async def close(self, code: int = 1000) -> None:
        """Close normally: with 1000 (the default) or 1001 the server ends the session (it
        cannot be resumed); another code leaves it resumable."""
        if self._beater is not None:
            self._beater.cancel()
        await self.ws.close(code)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader

    async def abort(self) -> None:
        """Drop the TCP connection without a close handshake (a network failure)."""
        if self._beater is not None:
            self._beater.cancel()
        self.ws.transport.abort()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self._on_frame(json.loads(raw))
        except websockets.ConnectionClosed:
            pass
        finally:
            received = self.ws.protocol.close_rcvd
            if received is not None:
                self.close_code, self.close_reason = received.code, received.reason
            self._closed.set()
            self._dispatches.put_nowait(GatewayClosed(self.close_code, self.close_reason))
            if self._beater is not None:
                self._beater.cancel()

    def _on_frame(self, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        if op == Op.DISPATCH:
            seq = frame.get("s")
            if frame.get("t") == "READY" and isinstance(seq, int):
                self.seq = seq  # a new session: its own sequence, whatever came before
            elif isinstance(seq, int) and frame.get("t") not in UNSEQUENCED:
                if seq != self.seq + 1 and self.seq != 0:
                    self.gaps += 1
                self.seq = max(self.seq, seq)
            elif isinstance(seq, int) and self.seq == 0:
                self.seq = seq
            self._dispatches.put_nowait(Dispatch(frame["t"], frame.get("d"), seq))
        elif op == Op.HELLO:
            self.heartbeat_interval = frame["d"]["heartbeat_interval"] / 1000
            self._hello.set()
            if self._auto_heartbeat:
                self._beater = asyncio.create_task(self._beat())
        elif op == Op.HEARTBEAT_ACK:
            self.heartbeat_acks += 1
        elif op == Op.HEARTBEAT:
            self._answer = asyncio.create_task(self.heartbeat())
        elif op == Op.RECONNECT:
            self.reconnect_requested = True
        elif op == Op.INVALID_SESSION:
            self._dispatches.put_nowait(InvalidSession(bool(frame.get("d"))))

    async def _beat(self) -> None:
        assert self.heartbeat_interval is not None
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                await asyncio.sleep(self.heartbeat_interval)
                await self.heartbeat()
