"""One client connection and, once identified, its session: sequence numbers, the stream
positions needed to resume, and the bounded outgoing queue.

Nothing here runs a task: frames are queued by the hub and written by one shared flush per loop
tick (`Outbox`), coalescing everything queued for a connection into one write.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gochat.ws import wire
from gochat.ws.protocol import CloseCode


class Transport(Protocol):
    """The seam to the WebSocket server library (see ws/server.py)."""

    def write(self, data: bytes) -> None:
        """Write already-framed bytes (WebSocket frames, ws/wire.py) to the socket."""

    def close(self, code: int, reason: str) -> None: ...


class State(enum.Enum):
    CONNECTED = "connected"  # HELLO sent, waiting for IDENTIFY / RESUME
    STARTING = "starting"  # identified; READY or replay being built
    LIVE = "live"
    DETACHED = "detached"  # socket gone or handed over; kept only as a KV record


@dataclass
class ResumePoint:
    """Which stream position each recent sequence number stands for: enough to resume from
    any sequence in [base_seq, seq] (trimmed by heartbeats, bounded in length). A plain list,
    not a deque: an empty deque costs ~600 bytes per idle connection, a list 56."""

    seq: int = 0
    base_seq: int = 0
    base_pos: int = 0
    positions: list[int] = field(default_factory=list)

    def position_for(self, seq: int) -> int | None:
        if seq < self.base_seq or seq > self.seq:
            return None
        if seq == self.base_seq:
            return self.base_pos
        return self.positions[seq - self.base_seq - 1]

    def trim_to(self, seq: int) -> None:
        """The client has `seq`: older positions can go."""
        drop = min(seq, self.seq) - self.base_seq
        if drop > 0:
            self.base_pos = self.positions[drop - 1]
            self.base_seq += drop
            del self.positions[:drop]

    def record(self, stream_seq: int, *, limit: int) -> int:
        self.seq += 1
        self.positions.append(stream_seq)
        if len(self.positions) > limit:  # keep the newest half: amortized O(1) per record
            self.trim_to(self.base_seq + len(self.positions) - limit // 2)
        return self.seq

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "base_seq": self.base_seq,
            "base_pos": self.base_pos,
            "positions": self.positions,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResumePoint:
        return cls(
            seq=int(data["seq"]),
            base_seq=int(data["base_seq"]),
            base_pos=int(data["base_pos"]),
            positions=[int(p) for p in data["positions"]],
        )


class Session:
    __slots__ = (
        "__weakref__",
        "closing",
        "dm_channels",
        "ended",
        "guild_ids",
        "heartbeat_deadline",
        "inbound",
        "out",
        "outbox",
        "paused",
        "point",
        "present",
        "session_id",
        "skip_through",
        "state",
        "status",
        "transport",
        "user_id",
    )

    def __init__(self, transport: Transport, outbox: Outbox, *, deadline: float) -> None:
        self.transport = transport
        self.outbox = outbox
        self.state = State.CONNECTED
        self.user_id = 0
        self.session_id = ""
        self.point = ResumePoint()
        # Queued frames, two pieces each (header and payload, or for a dispatch the shared
        # header+head and this session's `<seq>}`): joined into one write per flush.
        self.out: list[bytes] = []
        self.paused = False
        self.heartbeat_deadline = deadline
        self.guild_ids: set[int] = set()
        self.dm_channels: dict[int, tuple[int, ...]] = {}  # DM channel -> recipients
        self.skip_through = 0  # live events at or below this stream position were replayed
        self.status = "online"
        self.closing = False  # a close was sent: queue nothing more
        self.ended = False  # the client closed normally: the session is not to be resumed
        self.present = False  # counted by the presence tracker (until detached)
        self.inbound = (0.0, 0)  # (start of the current rate window, frames in it)

    def push(self, head: bytes, stream_seq: int | None) -> None:
        """Queue a dispatch built by protocol.dispatch_head. Durable events (with a stream
        position) take the next sequence number; ephemeral ones repeat the current one.
        The hub's fan-out uses `deliver`, which does the same for many sessions at once."""
        if self.closing or self.state is State.DETACHED:
            return
        if stream_seq is not None:
            self.point.record(stream_seq, limit=self.outbox.resume_limit)
        tail = b"%d}" % self.point.seq
        self._queue(wire.frame_header(len(head) + len(tail)) + head, tail)

    def send_raw(self, payload: bytes) -> None:
        """Queue one complete JSON frame."""
        if self.closing or self.state is State.DETACHED:
            return
        self._queue(wire.frame_header(len(payload)), payload)

    def _queue(self, first: bytes, second: bytes) -> None:
        out = self.out
        out.append(first)
        out.append(second)
        if len(out) == 2:
            self.outbox.mark(self)
        elif len(out) > self.outbox.queue_items_max:
            self.outbox.overflow(self)

    def flush(self) -> None:
        if self.out and not self.paused and self.state is not State.DETACHED:
            self.transport.write(b"".join(self.out))
            self.out = []


def deliver(sessions: Iterable[Session], head: bytes, stream_seq: int | None) -> int:
    """Queue one event's dispatch (`head` from protocol.dispatch_head) for every live session
    in `sessions` that has not had it replayed; returns how many got it.

    This is the gateway's innermost loop (once per delivery), so it is written for speed: the
    frame header and the shared head are joined once per length of the sequence number, each
    session's queue holds that shared prefix and its own `<seq>}` as two pieces (no per-
    recipient copy of the head), and ResumePoint.record is inlined."""
    live = State.LIVE
    prefixes: dict[int, bytes] = {}
    head_length = len(head)
    count = 0
    for session in sessions:
        if session.state is not live or session.closing:
            continue
        point = session.point
        if stream_seq is not None:
            if stream_seq <= session.skip_through:
                continue
            point.seq += 1
            positions = point.positions
            positions.append(stream_seq)
            if len(positions) > session.outbox.resume_limit:
                point.trim_to(point.base_seq + len(positions) - session.outbox.resume_limit // 2)
        tail = b"%d}" % point.seq
        prefix = prefixes.get(len(tail))
        if prefix is None:
            prefix = prefixes[len(tail)] = wire.frame_header(head_length + len(tail)) + head
        out = session.out
        out.append(prefix)
        out.append(tail)
        if len(out) == 2:
            session.outbox.mark(session)
        elif len(out) > session.outbox.queue_items_max:
            session.outbox.overflow(session)
        count += 1
    return count


# Frames queued within this window after the first one go out in one write per connection.
# Fan-out costs a system call per connection per flush, so this is what lets deliveries/s
# exceed system calls/s; measured (bench/ws/SERVER_CHOICE.md): 1,000 connections in one channel
# at 100 msg/s went from 48-74k deliveries/s with p99 > 1 s (flush every tick) to 100k with
# p99 39 ms, and 295k at 300 msg/s with p99 41 ms. A fixed window beat "at most one flush per
# window" (which flushes an idle connection at once) under CPU contention. 10 ms rather than the
# 20 first chosen: the same CPU per delivery under fan-out and under the latency load (a flush
# that takes long stretches the window anyway, below), and half the wait (bench/ws/FINDINGS.md).
# The config key flush_interval_ms defaults to the same (a unit test keeps them equal).
FLUSH_INTERVAL_SECONDS = 0.01
# When a flush itself takes long (thousands of writes), the next window stretches to twice its
# duration, up to this: the process then spends at most about half its time in writes, and
# batches grow with the load instead of latency growing without bound.
MAX_FLUSH_INTERVAL_SECONDS = 0.1
# A flush that wrote to fewer connections than this was cheap: when traffic is also sparse (the
# previous flush was more than a window ago) the next one goes at once, so a quiet DM or small
# channel pays no window. Under steady traffic every flush keeps the window, whatever its size:
# judging by size alone turned a busy fan-out to ~50 connections a process into one write per
# event and halved deliveries/s (bench/ws/FINDINGS.md).
SMALL_FLUSH_CONNECTIONS = 100


class Outbox:
    """The one flush for every connection: sessions with queued frames are written together,
    each in a single write, FLUSH_INTERVAL_SECONDS after the first frame was queued."""

    def __init__(
        self,
        *,
        queue_max: int,
        on_overflow: Callable[[Session], None],
        loop: asyncio.AbstractEventLoop | None = None,
        interval: float = FLUSH_INTERVAL_SECONDS,
    ) -> None:
        self.queue_max = queue_max
        self.queue_items_max = queue_max * 2  # Session.out holds two pieces per frame
        self.resume_limit = queue_max * 2
        self._on_overflow = on_overflow
        self._dirty: list[Session] = []
        self._loop = loop
        self._interval = interval
        self._window = interval
        self._last_flush = 0.0

    def mark(self, session: Session) -> None:
        if not self._dirty:
            loop = self._loop or asyncio.get_running_loop()
            if self._window > 0:
                loop.call_later(self._window, self.flush)
                self._window = self._interval  # a window is earned by each large flush anew
            else:
                loop.call_soon(self.flush)
        self._dirty.append(session)

    def overflow(self, session: Session) -> None:
        """The session's queue is full: write it now if the socket takes data; if the socket is
        backed up (the client is not reading), the client is too slow."""
        if session.paused:
            self._on_overflow(session)
        else:
            session.flush()

    def flush(self) -> None:
        started = time.perf_counter()
        dirty, self._dirty = self._dirty, []
        for session in dirty:
            try:
                session.flush()
            except Exception:  # a dead socket must not stop the others' flush
                session.transport.close(CloseCode.UNKNOWN_ERROR, "write failed")
        if self._interval > 0:
            sparse = started - self._last_flush > self._interval
            self._last_flush = started
            if sparse and len(dirty) < SMALL_FLUSH_CONNECTIONS:
                self._window = 0.0
            else:
                took = time.perf_counter() - started
                self._window = min(MAX_FLUSH_INTERVAL_SECONDS, max(self._interval, 2 * took))
