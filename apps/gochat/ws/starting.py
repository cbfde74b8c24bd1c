"""Starting a session: IDENTIFY (a new session and its READY) and RESUME (an old session, with
exactly what it missed), on whichever gateway process the client reached."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from gochat.adapters.nats import gateway_sessions
from gochat.adapters.postgres import read_states
from gochat.core import errors, schemas
from gochat.ws import metrics, protocol
from gochat.ws.protocol import CloseCode
from gochat.ws.session import ResumePoint, Session, State

if TYPE_CHECKING:
    from gochat.ws.gateway import Gateway


async def _authenticate(gateway: Gateway, session: Session, token: str) -> int | None:
    try:
        claims = await gateway.svc.verifier.verify(token)
    except errors.GoChatError as exc:
        gateway.close(session, CloseCode.AUTHENTICATION_FAILED, exc.message)
        return None
    return claims.user_id


async def identify(gateway: Gateway, session: Session, request: protocol.Identify) -> None:
    """Start a new session and send its READY; counted by outcome in gochat_ws_identifies_total."""
    try:
        outcome = await _identify(gateway, session, request)
    except Exception:
        metrics.IDENTIFIES.labels("failed").inc()  # the gateway closes with UNKNOWN_ERROR
        raise
    metrics.IDENTIFIES.labels(outcome).inc()


async def _identify(gateway: Gateway, session: Session, request: protocol.Identify) -> str:
    user_id = await _authenticate(gateway, session, request.token)
    if user_id is None:
        return "auth_failed"
    if session.state is State.DETACHED:
        return "abandoned"
    hub = gateway.svc.hub
    start = hub.position  # everything up to here is committed, so the reads below see it
    async with gateway.svc.directory.read("ws_identify") as tx:
        user = await tx.get_user(user_id)
        guild_ids = await tx.guild_ids_of(user_id)
    if user is None:
        gateway.close(session, CloseCode.AUTHENTICATION_FAILED, "unknown user")
        return "auth_failed"
    session.user_id = user_id
    session.status = request.presence.status if request.presence else "online"
    hub.add_session(session)
    await hub.attach(session, guild_ids)
    ready = await _ready(gateway, session, user)
    if session.state is State.DETACHED:
        return "abandoned"
    session.point = ResumePoint(seq=1, base_seq=1, base_pos=start)
    gateway.send_dispatch(session, "READY", ready)
    told: dict[int, set[int]] = {guild_id: set() for guild_id in session.guild_ids}
    for channel in ready.channels:
        if channel.guild_id is not None:
            told.setdefault(channel.guild_id, set()).add(channel.id)
    await _go_live(gateway, session, start, told=told)
    return "ready"


async def _ready(gateway: Gateway, session: Session, user: schemas.User) -> protocol.Ready:
    hub = gateway.svc.hub
    session_id = gateway.new_session_id()
    session.session_id = session_id
    async with gateway.svc.directory.read("ws_ready") as tx:
        guilds = await tx.guilds_of(session.user_id)
        channels: list[schemas.Channel] = []
        for guild in guilds:
            state = hub.guilds.get(guild.id)
            channels += [
                c
                for c in await tx.list_channels(guild.id)
                if state is not None and state.can_view(session.user_id, c.id)
            ]
        dms = await tx.dm_channels_of(session.user_id)
        states = await read_states.of_user(tx.conn, session.user_id)
    session.dm_channels = {c.id: tuple(c.recipient_ids) for c in dms}
    return protocol.Ready(
        session_id=session_id,
        user=user,
        guilds=[g for g in guilds if g.id in session.guild_ids],
        channels=channels + dms,
        read_states=states,
        heartbeat_interval=gateway.heartbeat_interval_ms,
    )


async def _go_live(
    gateway: Gateway,
    session: Session,
    start: int,
    *,
    resumed: bool = False,
    told: dict[int, set[int]] | None = None,
) -> None:
    """Register the session as held here, replay from `start`, and go live."""
    session.heartbeat_deadline = time.monotonic() + gateway.heartbeat_timeout
    gateway.live[session.session_id] = session
    metrics.SESSIONS.inc()
    await gateway.svc.records.put(session.session_id, gateway.record_of(session, state="live"))
    replayed = await gateway.svc.hub.catch_up(session, start, resuming=resumed, told=told)
    if replayed is None:  # what the session may view changed while it was away
        await _refuse_resume(gateway, session, outcome="view_changed")
        return
    if resumed:  # right after the replay, before any live event can be queued
        metrics.RESUMES.labels("resumed").inc()
        metrics.REPLAYED.inc(replayed)
        gateway.send_dispatch(
            session, "RESUMED", protocol.Resumed(session_id=session.session_id, replayed=replayed)
        )
    if session.state is State.DETACHED:  # the socket went meanwhile: detached, not present
        return
    session.present = True  # counted at once (before any await), uncounted by its detach
    await gateway.svc.presence.connected(session.user_id, session.status)


async def resume(gateway: Gateway, session: Session, request: protocol.Resume) -> None:
    user_id = await _authenticate(gateway, session, request.token)
    if user_id is None or session.state is State.DETACHED:
        return
    record = await _detached_record(gateway, request.session_id)
    window = gateway.svc.config.resume_window_seconds
    if (
        record is None
        or record.get("state") != "detached"
        or record.get("user_id") != user_id
        or time.time() - float(record["detached_at"]) > window
    ):
        _refuse(gateway, session, outcome="invalid")
        return
    point = ResumePoint.from_dict(record["point"])
    if request.seq > point.seq:
        gateway.close(session, CloseCode.INVALID_SEQ, f"seq: {request.seq} was never sent")
        return
    position = point.position_for(request.seq)
    if position is None:  # older than the resume point still kept
        _refuse(gateway, session, outcome="invalid")
        return
    if request.seq < point.seq and point.position_for(request.seq + 1) == position:
        # The client stopped inside the dispatches one stream event produced (a change and the
        # CHANNEL_CREATE / CHANNEL_DELETE derived from it): a replay starts after that event.
        _refuse(gateway, session, outcome="view_changed")
        return
    session.status = str(record.get("status", "online"))
    await _resume_at(
        gateway,
        session,
        request,
        user_id=user_id,
        position=position,
        guild_ids_then=record.get("guild_ids"),
    )


async def _resume_at(
    gateway: Gateway,
    session: Session,
    request: protocol.Resume,
    *,
    user_id: int,
    position: int,
    guild_ids_then: list[int] | None,
) -> None:
    async with gateway.svc.directory.read("ws_resume") as tx:
        guild_ids = await tx.guild_ids_of(user_id)
        dms = await tx.dm_channels_of(user_id)
    # (Records written before guild ids were kept have none: nothing to compare.)
    if guild_ids_then is not None and set(guild_ids_then) != set(guild_ids):
        _refuse(gateway, session, outcome="view_changed")
        return
    session.user_id = user_id
    session.session_id = request.session_id
    session.dm_channels = {c.id: tuple(c.recipient_ids) for c in dms}
    session.point = ResumePoint(seq=request.seq, base_seq=request.seq, base_pos=position)
    gateway.svc.hub.add_session(session)
    await gateway.svc.hub.attach(session, guild_ids)
    if session.state is State.DETACHED:
        return
    await _go_live(gateway, session, position, resumed=True)


def _refuse(gateway: Gateway, session: Session, *, outcome: str) -> None:
    """Count a RESUME that may not go on, and tell the client to IDENTIFY again."""
    metrics.RESUMES.labels(outcome).inc()
    gateway.invalid_session(session)


async def _refuse_resume(gateway: Gateway, session: Session, *, outcome: str) -> None:
    """Undo `_go_live` for a session that may not resume after all; the client identifies."""
    gateway.live.pop(session.session_id, None)
    metrics.SESSIONS.dec()
    await gateway.svc.records.delete(session.session_id)
    _refuse(gateway, session, outcome=outcome)


async def _detached_record(gateway: Gateway, session_id: str) -> gateway_sessions.Record | None:
    """The session's record once no gateway holds it any more (asking the holder to let go)."""
    records = gateway.svc.records
    record = await records.get(session_id)
    if record is None or record.get("state") != "live":
        return record
    if record.get("gateway") == gateway.svc.gateway_id:
        handed_over = await gateway.takeover(session_id)
    else:
        handed_over = await records.request_takeover(str(record["gateway"]), session_id)
    # None: the holder let go of it meanwhile (detached or ended); the store has the outcome.
    return handed_over if handed_over is not None else await records.get(session_id)
