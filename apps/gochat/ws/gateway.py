"""The gateway's handling of connections: HELLO, inbound ops, heartbeats, closing, detaching.

The server library calls `connected`, `received`, `disconnected` and the flow-control pair;
all of them are synchronous and cheap. Work that awaits (identify, resume, presence, member
requests) runs in a short task per request, never a task per connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from gochat.adapters.nats import gateway_events, gateway_sessions
from gochat.adapters.postgres.directory import Directory
from gochat.core import config, events, ids, permissions
from gochat.core.tokens import TokenVerifier
from gochat.ws import metrics, protocol, starting, wire
from gochat.ws import session as session_module
from gochat.ws.hub import Hub
from gochat.ws.presence import PresenceTracker
from gochat.ws.protocol import CloseCode, Op
from gochat.ws.session import Outbox, Session, State, Transport

log = logging.getLogger(__name__)
TYPING_INTERVAL_SECONDS = 5.0  # one TYPING_START per user and channel per interval
# Inbound frames per connection (as Discord: 120 per 60 s); heartbeats need 2 of them.
INBOUND_FRAMES_PER_WINDOW = 120
INBOUND_WINDOW_SECONDS = 60.0
_TYPING_NEEDS = permissions.Permission.VIEW_CHANNEL | permissions.Permission.SEND_MESSAGES


@dataclass
class Services:
    config: config.WsConfig
    hub: Hub
    verifier: TokenVerifier
    directory: Directory
    records: gateway_sessions.SessionRecords
    presence: PresenceTracker
    feed: gateway_events.EventFeed
    ids: ids.SnowflakeGenerator
    gateway_id: str


class Gateway:
    def __init__(
        self, services: Services, *, flush_interval: float = session_module.FLUSH_INTERVAL_SECONDS
    ) -> None:
        self.svc = services
        cfg = services.config
        self.heartbeat_interval_ms = cfg.heartbeat_interval_ms
        self.heartbeat_timeout = cfg.heartbeat_interval_ms / 1000 * 1.5
        self.outbox = Outbox(
            queue_max=cfg.send_queue_max, on_overflow=self._too_slow, interval=flush_interval
        )
        self.connections: set[Session] = set()
        self.live: dict[str, Session] = {}
        self.draining = False
        # Detaches in progress: session id -> (the session, its record once stored).
        self._detached: dict[str, tuple[Session, asyncio.Future[gateway_sessions.Record]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._typing: dict[tuple[int, int], float] = {}

    # --- called by the server library ----------------------------------------------------------

    def connected(self, transport: Transport, *, token: str | None = None) -> Session:
        deadline = time.monotonic() + self.svc.config.identify_timeout_seconds
        session = Session(transport, self.outbox, deadline=deadline)
        self.connections.add(session)
        metrics.CONNECTIONS.inc()
        session.send_raw(
            protocol.encode(Op.HELLO, {"heartbeat_interval": self.heartbeat_interval_ms})
        )
        if token is not None:  # `/ws?token=...`: identify without waiting for a frame
            session.state = State.STARTING
            identify = starting.identify(self, session, protocol.Identify(token=token))
            self.spawn(self._starting(session, identify))
        return session

    def received(self, session: Session, raw: bytes) -> None:
        if len(raw) > self.svc.config.max_frame_bytes:
            self.frame_too_large(session)
            return
        now = time.monotonic()
        started, count = session.inbound
        if now - started > INBOUND_WINDOW_SECONDS:
            started, count = now, 0
        session.inbound = (started, count + 1)
        if count >= INBOUND_FRAMES_PER_WINDOW:
            rate = f"{INBOUND_FRAMES_PER_WINDOW} frames per {INBOUND_WINDOW_SECONDS:.0f} s"
            self.close(session, CloseCode.RATE_LIMITED, f"more than {rate}")
            return
        try:
            frame = protocol.decode(raw)
            self._handle(session, frame)
        except protocol.ProtocolError as exc:
            self.close(session, exc.code, exc.reason)

    def frame_too_large(self, session: Session) -> None:
        """An inbound frame over max_frame_bytes (or over the server's own cap, refused from its
        header without being read)."""
        size = self.svc.config.max_frame_bytes
        self.close(session, CloseCode.FRAME_TOO_LARGE, f"frame exceeds {size} bytes")

    def closed_by_client(self, session: Session, code: int) -> None:
        """The client sent a close frame with `code` (before the socket goes). As on Discord,
        1000 and 1001 end the session: it cannot be resumed. (A client's echo of a close the
        server started, a drain's 4013 included, does not count.)"""
        if code in (1000, 1001) and not session.closing:
            session.ended = True

    def disconnected(self, session: Session) -> None:
        if session in self.connections:
            self.connections.discard(session)
            metrics.CONNECTIONS.dec()
        if session.state is State.DETACHED:
            return
        if session.session_id and self.live.get(session.session_id) is session:
            self.spawn(self.detach(session))
        else:  # never got a session: nothing to keep
            session.state = State.DETACHED
            if session.user_id:
                self.svc.hub.remove_session(session)

    def pause_writing(self, session: Session) -> None:
        session.paused = True

    def resume_writing(self, session: Session) -> None:
        session.paused = False
        if session.out:
            self.outbox.mark(session)

    # --- inbound ops ---------------------------------------------------------------------------

    def _handle(self, session: Session, frame: protocol.Inbound) -> None:
        op = frame.op
        if op is Op.HEARTBEAT:
            self._heartbeat(session, frame.d)
        elif op in (Op.IDENTIFY, Op.RESUME):
            if session.state is not State.CONNECTED:
                raise protocol.ProtocolError(
                    CloseCode.ALREADY_AUTHENTICATED, "session already identified"
                )
            session.state = State.STARTING
            flow = starting.identify if op is Op.IDENTIFY else starting.resume
            self.spawn(self._starting(session, flow(self, session, frame.d)))
        elif session.state is State.CONNECTED:
            raise protocol.ProtocolError(
                CloseCode.NOT_AUTHENTICATED, f"op {int(op)} before the session is ready"
            )
        elif op is Op.PRESENCE_UPDATE:
            session.status = frame.d.status
            self.spawn(self.svc.presence.set_status(session.user_id, frame.d.status))
        elif op is Op.TYPING_START:
            self._typing_start(session, frame.d.channel_id)
        elif op is Op.REQUEST_GUILD_MEMBERS:
            self.spawn(self._guild_members(session, frame.d))

    async def _starting(self, session: Session, flow: Coroutine[Any, Any, None]) -> None:
        try:
            await flow
        except Exception:
            log.exception("starting a session failed", extra={"user_id": session.user_id})
            self.close(session, CloseCode.UNKNOWN_ERROR, "could not start the session; retry")

    def _heartbeat(self, session: Session, last_seq: int | None) -> None:
        # Checked from the moment the session has its sequence: READY (or the resume point)
        # set it, whether or not the replay before going live is done.
        if last_seq is not None and _has_sequence(session):
            if last_seq > session.point.seq:
                raise protocol.ProtocolError(
                    CloseCode.INVALID_SEQ, f"d: sequence {last_seq} was never sent"
                )
            session.point.trim_to(last_seq)
        if session.state is not State.CONNECTED:
            session.heartbeat_deadline = time.monotonic() + self.heartbeat_timeout
        session.send_raw(protocol.encode(Op.HEARTBEAT_ACK))

    def _typing_start(self, session: Session, channel_id: int) -> None:
        found = self._typing_scope(session, channel_id)
        if found is None:
            return  # not a channel the user may type in: nothing to tell anyone
        now = time.monotonic()
        key = (session.user_id, channel_id)
        if now - self._typing.get(key, -TYPING_INTERVAL_SECONDS) < TYPING_INTERVAL_SECONDS:
            metrics.TYPING_LIMITED.inc()
            return
        if len(self._typing) > 100_000:
            self._typing = {k: t for k, t in self._typing.items() if now - t < 10}
        self._typing[key] = now
        scope, scope_id, guild_id = found
        event = events.build(
            "TYPING_START",
            events.TypingStarted(
                channel_id=channel_id,
                guild_id=guild_id,
                user_id=session.user_id,
                timestamp=int(time.time()),
            ),
            event_id=self.svc.ids.next_id(),
            scope=scope,  # type: ignore[arg-type]
            scope_id=scope_id,
            guild_id=guild_id,
            channel_id=channel_id,
            user_ids=sorted(session.dm_channels.get(channel_id, ())),
        )
        if scope == "dm":
            others = [u for u in session.dm_channels[channel_id] if u != session.user_id]
            self.spawn(self._publish_dm_typing(event, session.user_id, others))
        else:
            self.spawn(self.svc.feed.publish_ephemeral(event))

    async def _publish_dm_typing(
        self, event: events.Event, user_id: int, others: list[int]
    ) -> None:
        # As the API refuses a DM message once the two share no guild (docs/api.md, "Privacy
        # and authorization"), typing is not relayed then either. One read per typing burst:
        # the per-channel rate limit above bounds it.
        async with self.svc.directory.read("ws_dm_typing") as tx:
            for other in others:
                if not await tx.share_a_guild(user_id, other):
                    return
        await self.svc.feed.publish_ephemeral(event)

    def _typing_scope(
        self, session: Session, channel_id: int
    ) -> tuple[str, int, int | None] | None:
        if channel_id in session.dm_channels:
            return "dm", channel_id, None
        for guild_id in session.guild_ids:
            state = self.svc.hub.guilds.get(guild_id)
            if state is None or channel_id not in state.overwrites:
                continue
            granted = state.channel_permissions(session.user_id, channel_id)
            if granted & _TYPING_NEEDS == _TYPING_NEEDS:
                return "guild", guild_id, guild_id
            return None
        return None

    async def _guild_members(self, session: Session, request: protocol.RequestGuildMembers) -> None:
        if request.guild_id not in session.guild_ids:
            return
        async with self.svc.directory.read("ws_guild_members") as tx:
            members = await tx.list_members(
                request.guild_id, after=request.after, limit=request.limit
            )
        presences = await self.svc.presence.statuses(
            (m.user.id for m in members), guild_id=request.guild_id
        )
        # The asker is connected whatever the shared store says yet: its own presence may still
        # be on its way there when a client asks right after READY.
        presences = [
            p.model_copy(update={"status": session.status, "last_seen": None})
            if p.user_id == session.user_id
            else p
            for p in presences
        ]
        chunk = protocol.GuildMembersChunk(
            guild_id=request.guild_id, members=members, presences=presences
        )
        self.send_dispatch(session, "GUILD_MEMBERS_CHUNK", chunk)

    # --- sending and closing -------------------------------------------------------------------

    def send_dispatch(self, session: Session, event_type: str, payload: Any) -> None:
        """A gateway-made dispatch (READY, RESUMED, chunks): not replayable, so it carries the
        session's current sequence without taking a new one."""
        head = protocol.dispatch_head(event_type, protocol.model_json(payload))
        session.send_raw(head + str(session.point.seq).encode() + b"}")

    def close(self, session: Session, code: CloseCode, reason: str) -> None:
        if session.closing:
            return
        metrics.DROPS.labels(code.name).inc()
        session.flush()
        session.closing = True
        session.transport.close(int(code), reason)

    def _too_slow(self, session: Session) -> None:
        session.out = []  # the resume replays it; holding it would only grow memory
        self.close(session, CloseCode.TOO_SLOW, "send queue overflowed; resume")

    def invalid_session(self, session: Session, *, resumable: bool = False) -> None:
        """Tell the client to IDENTIFY again (on this same connection)."""
        self.svc.hub.remove_session(session)
        session.state = State.CONNECTED
        session.session_id = ""
        session.point = session_module.ResumePoint()
        session.send_raw(protocol.encode(Op.INVALID_SESSION, resumable))

    # --- detaching (socket gone, drain, or takeover by a resume elsewhere) --------------------

    def record_of(self, session: Session, *, state: str) -> gateway_sessions.Record:
        return {
            "user_id": session.user_id,
            "gateway": self.svc.gateway_id,
            "state": state,
            "status": session.status,
            "detached_at": time.time(),
            "point": session.point.to_dict(),
            # A resume into a different set of guilds would miss the joins and leaves.
            "guild_ids": sorted(session.guild_ids),
        }

    async def detach(self, session: Session) -> gateway_sessions.Record:
        """Freeze the session where it is and store its resume point (or, when the client
        ended it with a normal close, forget it); idempotent for one connection's session.

        Only a detach in progress is shared (by a second call, or a takeover racing with it):
        once stored, the record is KV's to answer. A session resumed on this process is a new
        connection with the same session id, and its own detach stores its own, newer point."""
        session_id = session.session_id
        pending = self._detached.get(session_id)
        if pending is not None and pending[0] is session:
            return await asyncio.shield(pending[1])
        future: asyncio.Future[gateway_sessions.Record] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieved)  # a failure nobody waited for is logged once
        self._detached[session_id] = (session, future)
        try:
            session.flush()
            session.state = State.DETACHED
            record = self.record_of(session, state="detached")  # before its guilds are let go
            self.svc.hub.remove_session(session)
            if self.live.get(session_id) is session:
                del self.live[session_id]
                metrics.SESSIONS.dec()
            if session.present:
                session.present = False
                self.svc.presence.disconnected(session.user_id)
            if session.ended:
                await self.svc.records.delete(session_id)
            else:
                await self.svc.records.put(session_id, record)
            future.set_result(record)
            return record
        except BaseException as exc:
            future.set_exception(exc)
            raise
        finally:
            if self._detached.get(session_id, (None,))[0] is session:
                del self._detached[session_id]

    async def takeover(self, session_id: str) -> gateway_sessions.Record | None:
        """Another connection resumes `session_id`: let go of it and hand over its record;
        None when this process no longer holds it (its stored record then tells)."""
        pending = self._detached.get(session_id)
        if pending is not None:
            return await asyncio.shield(pending[1])
        session = self.live.get(session_id)
        if session is None:
            return None
        self.close(session, CloseCode.SESSION_REPLACED, "session resumed on another connection")
        return await self.detach(session)

    # --- housekeeping ------------------------------------------------------------------------

    def new_session_id(self) -> str:
        return uuid.uuid4().hex

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("gateway task failed", exc_info=task.exception())

    def expire(self) -> None:
        """Close connections that missed their identify or heartbeat deadline."""
        now = time.monotonic()
        for session in list(self.connections):
            if session.heartbeat_deadline < now and session.state is not State.DETACHED:
                if session.state is State.CONNECTED:
                    self.close(session, CloseCode.NOT_AUTHENTICATED, "no IDENTIFY in time")
                else:
                    self.close(session, CloseCode.SESSION_TIMED_OUT, "heartbeat missed")
                session.heartbeat_deadline = now + 5  # one close attempt per few seconds

    def reconnect_frame(self) -> bytes:
        return wire.text_frames([protocol.encode(Op.RECONNECT)])


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # marks it retrieved: the detach itself raised and was logged


def _has_sequence(session: Session) -> bool:
    """Whether the session's sequence is the client's to acknowledge: live, or starting with
    READY sent or its resume point taken (before READY, a fresh session has none)."""
    state = session.state
    return state is State.LIVE or (state is State.STARTING and session.point.seq > 0)
