"""Assembling and running one gateway process: connections to PostgreSQL and NATS, the hub's
stream reader, the shared timers, the server, and the drain on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid

from gochat.adapters.nats import connection, gateway_events, gateway_sessions, stream
from gochat.adapters.nats import presence as presence_store
from gochat.adapters.postgres import worker_ids as pg_worker_ids
from gochat.adapters.postgres.database import Database
from gochat.adapters.postgres.directory import Directory
from gochat.core import collector, config, events, worker_lease, workers
from gochat.core.tokens import TokenVerifier
from gochat.ws import late_copies, metrics, server
from gochat.ws.gateway import Gateway, Services
from gochat.ws.hub import Hub
from gochat.ws.presence import PresenceTracker
from gochat.ws.protocol import CloseCode
from gochat.ws.session import FLUSH_INTERVAL_SECONDS, Session, State

log = logging.getLogger(__name__)
TICK_SECONDS = 1.0
LEASE_RENEWAL_TICKS = int(presence_store.LEASE_TTL_SECONDS / 3 / TICK_SECONDS)
CANCEL_ATTEMPTS = 5
CANCEL_WAIT_SECONDS = 1.0


class GatewayProcess:
    def __init__(
        self,
        cfg: config.WsConfig,
        *,
        verifier: TokenVerifier | None = None,
        library: server.Library = server.DEFAULT_LIBRARY,
        flush_interval: float = FLUSH_INTERVAL_SECONDS,
    ) -> None:
        self.cfg = cfg
        self.library: server.Library = library
        self.flush_interval = flush_interval
        self.gateway_id = uuid.uuid4().hex[:12]
        self.verifier = verifier or TokenVerifier(jwks_url=cfg.jwks_url, issuer=cfg.jwt_issuer)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()
        self._database_error: str | None = None
        self.lease: worker_lease.WorkerIdLease | None = None

    async def start(self) -> None:
        cfg = self.cfg
        self.db = await Database.connect(
            cfg.pg_dsn, service="ws", min_size=cfg.pg_pool_min, max_size=cfg.pg_pool_max
        )
        self.nats = await connection.connect_with(cfg, name=f"gochat-ws-{self.gateway_id}")
        self.feed = gateway_events.EventFeed(
            self.nats, stream_name=cfg.nats_stream, limits=stream.limits_for(cfg)
        )
        await self.feed.ensure_stream()
        records = gateway_sessions.SessionRecords(self.nats)
        await records.open()
        store = presence_store.PresenceStore(self.nats)
        await store.open()
        self.lease = await worker_lease.WorkerIdLease.acquire(
            pg_worker_ids.PostgresWorkerIdLeases(self.db), service="ws"
        )
        id_source = self.lease.generator
        self.order = late_copies.ScopeOrder()
        self.hub = Hub(
            directory=Directory(self.db),
            replay=lambda after, through: self.feed.replay(
                after=after, through=through, admit=self.order.for_replay().admit
            ),
            position=await self.feed.last_sequence(),
        )
        self.presence = PresenceTracker(
            store=store,
            feed=self.feed,
            id_source=id_source,
            gateway_id=self.gateway_id,
            grace_seconds=cfg.presence_grace_seconds,
            guild_size=self._guild_size,
            guilds_of=self._guilds_of,
        )
        self.gateway = Gateway(
            Services(
                config=cfg,
                hub=self.hub,
                verifier=self.verifier,
                directory=Directory(self.db),
                records=records,
                presence=self.presence,
                feed=self.feed,
                ids=id_source,
                gateway_id=self.gateway_id,
            ),
            flush_interval=self.flush_interval,
        )
        await self.presence.start()
        await self.verifier.prefetch()
        await records.serve_takeovers(self.gateway_id, self.gateway.takeover)
        await self.feed.on_ephemeral(self._ephemeral)
        self._reader = asyncio.create_task(self._read_stream())
        self._reconnects = self.nats.stats["reconnects"]
        self._sweep: asyncio.Task[None] | None = None
        self._tasks = [asyncio.create_task(self._tick())]
        self.server = await server.serve(
            self.gateway,
            host=cfg.host,
            port=cfg.port,
            readiness=self.readiness,
            library=self.library,
        )
        collector.freeze_startup_heap()
        log.info("gateway listening", extra={"port": cfg.port, "gateway_id": self.gateway_id})

    async def _guilds_of(self, user_id: int) -> list[int]:
        async with Directory(self.db).read("ws_guilds_of") as tx:
            return await tx.guild_ids_of(user_id)

    async def _guild_size(self, guild_id: int) -> int:
        async with Directory(self.db).read("ws_guild_size") as tx:
            return len(await tx.member_user_ids(guild_id))

    async def _ephemeral(self, event: events.Event) -> None:
        self.hub.handle_ephemeral(event)

    async def _read_stream(self) -> None:
        while True:
            try:
                await self.feed.follow(
                    after=self.hub.position, handler=self._on_stream_event, admit=self.order.admit
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event stream reader failed; restarting")
                await asyncio.sleep(1)

    async def _on_stream_event(self, seq: int, event: events.Event | None) -> None:
        self.hub.handle(seq, event)
        await self.hub.settle()

    async def _tick(self) -> None:
        beats = 0
        while True:
            await asyncio.sleep(TICK_SECONDS)
            self.gateway.expire()
            self._restart_reader_after_reconnect()
            beats += 1
            if beats % 5 == 0:
                await self._check_database()
            if beats % LEASE_RENEWAL_TICKS == 0:
                try:
                    await self.presence.renew_lease()
                except Exception:
                    log.exception("gateway lease renewal failed")
                if self._sweep is None or self._sweep.done():
                    # Its own task: sweeping a dead gateway's users must not hold up the tick.
                    self._sweep = asyncio.create_task(self._sweep_dead_gateways())

    async def _sweep_dead_gateways(self) -> None:
        try:
            await self.presence.sweep()
        except Exception:
            log.exception("sweeping up after dead gateways failed")

    def _restart_reader_after_reconnect(self) -> None:
        """After NATS came back, read the stream again from the hub's position at once, instead
        of waiting for the ordered consumer to notice its missing heartbeats (~15-20 s)."""
        reconnects = self.nats.stats["reconnects"]
        if reconnects != self._reconnects:
            self._reconnects = reconnects
            self._reader.cancel()
            self._reader = asyncio.create_task(self._read_stream())

    async def _check_database(self) -> None:
        """Readiness is answered synchronously by the server, so the database is pinged here."""
        try:
            await self.db.ping()
            self._database_error = None
        except Exception as exc:
            self._database_error = f"{type(exc).__name__}: {exc}"[:200]

    def readiness(self) -> dict[str, str]:
        failing = {}
        if self.gateway.draining:
            failing["gateway"] = "draining"
        if not self.nats.is_connected:
            failing["nats"] = "disconnected"
        if self._database_error is not None:
            failing["postgres"] = self._database_error
        return failing

    async def drain(self) -> None:
        """Tell every client to reconnect, spread over drain_window_seconds with jitter; each
        session's resume point is stored before its RECONNECT goes out."""
        gateway = self.gateway
        gateway.draining = True
        sessions = list(gateway.live.values())
        window = self.cfg.drain_window_seconds
        log.info("draining", extra={"sessions": len(sessions), "window": window})

        async def reconnect(session: Session, delay: float) -> None:
            await asyncio.sleep(delay)
            if session.state is not State.LIVE:
                return
            await gateway.detach(session)  # the resume point is stored before RECONNECT
            session.transport.write(gateway.reconnect_frame())
            gateway.close(session, CloseCode.RECONNECT_REQUESTED, "gateway draining")
            metrics.DRAINED.inc()

        await asyncio.gather(
            *(reconnect(s, random.uniform(0, window)) for s in sessions), return_exceptions=True
        )
        for session in list(gateway.connections):
            gateway.close(session, CloseCode.RECONNECT_REQUESTED, "gateway draining")

    async def stop(self) -> None:
        self.server.close()
        self._tasks.append(self._reader)
        if self._sweep is not None:
            self._tasks.append(self._sweep)
        await _cancel_all(self._tasks)
        await self.presence.close()
        if self.lease is not None:
            await self.lease.release()
        with contextlib.suppress(Exception):
            await self.nats.drain()
        await self.db.close()


async def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel `tasks` and wait for them to end. A task can swallow a cancellation (nats-py may,
    when it lands inside a subscribe: the stream reader then waited forever on its follow, and a
    gateway stopped just after it started hung until killed): those are cancelled again."""
    pending = set(tasks)
    for _ in range(CANCEL_ATTEMPTS):
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=CANCEL_WAIT_SECONDS)
        if not pending:
            return
    log.error("tasks did not end on cancellation", extra={"tasks": len(pending)})


async def run(
    cfg: config.WsConfig,
    *,
    library: server.Library = server.DEFAULT_LIBRARY,
    flush_interval: float = FLUSH_INTERVAL_SECONDS,
) -> None:
    # Stop signals are handled before anything starts: one that comes while the process starts
    # (a supervised worker holds it pending until here) is acted on as soon as it is up: the
    # drain finds nobody to move and the process exits 0. (Cancelling a start half-way would
    # leave connections and tasks that do not all end on cancellation.)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in workers.STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    workers.accept_stop_signals()
    process = GatewayProcess(cfg, library=library, flush_interval=flush_interval)
    await process.start()
    if stop.is_set():
        log.info("asked to stop while starting")
    await stop.wait()
    await process.drain()
    # Users who did not come back on another gateway go offline after the grace period; wait
    # for that verdict, or nobody would announce it.
    await process.presence.settle(wait_seconds=cfg.presence_grace_seconds + 2)
    await process.stop()
    # Drained: a further signal has nothing to stop, and must not kill the exit (the loop's
    # handlers go when it closes).
    workers.hold_stop_signals()
