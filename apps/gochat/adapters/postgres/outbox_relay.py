"""The outbox relay: publishes committed outbox rows to JetStream, in `seq` order, forever.

Every API replica runs one; a session advisory lock on a dedicated connection elects the leader.
The others try that lock every `standby_poll_seconds` and take over within one interval of the
leader's connection going away (a dead process closes its socket; a vanished host is noticed by
TCP keepalive, see _SESSION_SETTINGS). They try rather than wait: a statement blocked in
pg_advisory_lock keeps its snapshot for as long as it waits, and while any snapshot is that old
VACUUM and HOT pruning can remove no dead row anywhere in the database (the outbox, the channel
rows every send bumps): PostgreSQL's CPU per send grew with the age of a platform that had a
standby.

The leader LISTENs on `gochat_outbox` (the writers NOTIFY at commit) and polls every
`poll_seconds` as a fallback. While it drains a steady stream (each look finds rows) it stops
listening and looks again every `gather_seconds`; it listens again before the look that may
send it to sleep, so a row committed after that look still wakes it.

Each batch goes to `EventPublisher.publish_in_order`, which keeps many PubAcks in flight yet
never stores an event unless the one before it is stored; the stored prefix is then deleted
from the outbox in one DELETE (JetStream keeps the history: a published row has nothing left to
say). What stops a batch decides what follows:
- a conflict (another writer got in between two events, or a row was an old duplicate): go on
  at once from the first unstored row, which is then published first, without an expectation,
  so every retry stores at least one row;
- any other failure (timeout, no stream, disconnected, a refused event): back off with jitter
  and retry that row, for as long as it takes, never skipping ahead.
A crash between the ack and the DELETE republishes a few rows: the event id travels as
`Nats-Msg-Id`, so JetStream drops those copies. Two leaders overlapping briefly (a takeover
while the old one finishes a batch) keep the order too: each publishes in seq order, a later
event is stored only right after the one before it, and a message enters the stream at its
first publish.

Never skipping ahead has a price: a row JetStream refuses for good (say, over max_msg_size)
holds up every row after it. That shows as a growing `gochat_outbox_oldest_unpublished_age_seconds`
and a log line per attempt naming the row's seq; alert on the first. A batch costs about one
round trip and one event-loop turn for all its PubAcks, instead of one each: that matters most
inside a busy API process, where every turn waits behind request handling (bench/relay/).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from dataclasses import dataclass

import asyncpg
from prometheus_client import Counter, Gauge, Histogram

from gochat import ports
from gochat.adapters.postgres import database, outbox
from gochat.core import metrics, tracing

log = logging.getLogger(__name__)
_tracer = tracing.tracer(__name__)

LEADER_LOCK_KEY = 0x6F7574626F78  # "outbox": session lock held by the publishing replica
# Keepalive: the server probes an idle leader, so a leader whose host vanished loses the lock
# in about 10 + 3 * 5 seconds instead of the kernel's two hours. No statement or lock timeout:
# a server-wide default must not cut the leader's statements short.
_SESSION_SETTINGS = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
    "statement_timeout": "0",
    "lock_timeout": "0",
    "application_name": "gochat-outbox-relay",
}
_LAG_REFRESH_SECONDS = 5.0
# A look that finds this many rows means a steady stream: stop listening until one finds none.
_DRAINING_BATCH = 2

OUTBOX_UNPUBLISHED = Gauge(
    "gochat_outbox_unpublished_events", "Committed outbox rows not yet published."
)
OUTBOX_OLDEST_AGE = Gauge(
    "gochat_outbox_oldest_unpublished_age_seconds", "Age of the oldest unpublished outbox row."
)
OUTBOX_LEADER = Gauge("gochat_outbox_relay_leader", "1 while this replica publishes the outbox.")
OUTBOX_PUBLISH_CONFLICTS = Counter(
    "gochat_outbox_publish_conflicts_total",
    "Batches cut short because another writer got in between or a row was a duplicate.",
)
OUTBOX_NOTIFICATIONS = Counter(
    "gochat_outbox_notifications_total",
    "Commit notifications the relay leader received (none while it drains a steady stream).",
)
OUTBOX_BATCH_SECONDS = Histogram(
    "gochat_outbox_publish_batch_seconds",
    "Time to publish one ordered batch until its last PubAck (or the first failure).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


@dataclass(frozen=True, slots=True)
class OutboxLag:
    unpublished: int
    oldest_age_seconds: float  # 0 when nothing waits


class Backoff:
    """Exponential back-off with full jitter: replicas retrying together do not stampede."""

    def __init__(self, *, first: float = 0.1, cap: float = 10.0) -> None:
        self._first, self._cap, self._attempt = first, cap, 0

    def next_delay(self) -> float:
        ceiling = min(self._cap, self._first * 2**self._attempt)
        self._attempt = min(self._attempt + 1, 30)
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self._attempt = 0


class OutboxRelay:
    """`await start()` in the API's lifespan, `await stop()` on shutdown; `lag()` any time."""

    def __init__(
        self,
        *,
        dsn: str,
        database: database.Database,
        publisher: ports.EventPublisher,
        batch_size: int = 256,
        poll_seconds: float = 0.5,
        cleanup_every_seconds: float = 60.0,
        max_backoff_seconds: float = 10.0,
        gather_seconds: float = 0.005,
        standby_poll_seconds: float = 0.5,
    ) -> None:
        self._dsn, self._database, self._publisher = dsn, database, publisher
        self._gather_seconds, self._standby_poll_seconds = gather_seconds, standby_poll_seconds
        self._batch_size, self._poll_seconds = batch_size, poll_seconds
        self._cleanup_every = cleanup_every_seconds
        self._max_backoff = max_backoff_seconds
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._leader = False

    @property
    def is_leader(self) -> bool:
        return self._leader

    async def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self, *, grace_seconds: float = 30.0) -> None:
        """Finish the batch being published, mark what was stored, release leadership."""
        if self._task is None:
            return
        self._stopping.set()
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace_seconds)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def lag(self) -> OutboxLag:
        """How far publishing is behind; also refreshes the lag gauges."""
        async with self._database.connection("outbox_lag") as conn:
            return await _measure_lag(conn)

    async def _run(self) -> None:
        backoff = Backoff(cap=self._max_backoff)
        while not self._stopping.is_set():
            try:
                await self._serve_one_connection()
                backoff.reset()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("outbox relay lost its database connection", extra={"error": repr(exc)})
                await self._pause(backoff.next_delay())
            except Exception:  # a relay that dies stops every event: log, pause, start over
                log.exception("outbox relay failed unexpectedly; restarting it")
                await self._pause(backoff.next_delay())

    async def _serve_one_connection(self) -> None:
        conn: asyncpg.Connection = await asyncpg.connect(
            self._dsn, server_settings=_SESSION_SETTINGS
        )
        try:
            if await self._wait_for_leadership(conn):
                await conn.add_listener(outbox.NOTIFY_CHANNEL, self._on_notify)
                self._set_leader(True)
                log.info("outbox relay is the leader")
                await self._lead(conn)
        finally:
            self._set_leader(False)
            # Closing releases the lock; terminate when the socket is already broken.
            try:
                await asyncio.wait_for(conn.close(), 5)
            except (OSError, asyncpg.InterfaceError, TimeoutError):
                conn.terminate()

    async def _wait_for_leadership(self, conn: asyncpg.Connection) -> bool:
        """True once `conn` holds the leader lock; False when stopping first. Between tries the
        connection is idle, holding no snapshot (see the module docstring)."""
        while not self._stopping.is_set():
            if await conn.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK_KEY):
                return True
            await self._pause(self._standby_poll_seconds)
        return False

    async def _lead(self, conn: asyncpg.Connection) -> None:
        backoff = Backoff(cap=self._max_backoff)
        next_cleanup = time.monotonic() + self._cleanup_every
        next_lag = 0.0
        listening = True  # _serve_one_connection listens before it leads
        while not self._stopping.is_set():
            self._wake.clear()
            published, failed = await self._publish_batch(conn)
            if failed:
                await self._pause(backoff.next_delay())
                continue
            backoff.reset()
            if time.monotonic() >= next_cleanup:
                await _delete_rows_marked_by_older_relays(conn)
                next_cleanup = time.monotonic() + self._cleanup_every
            if time.monotonic() >= next_lag:
                await _measure_lag(conn)
                next_lag = time.monotonic() + _LAG_REFRESH_SECONDS
            listening = await self._wait_before_next_look(
                conn, published=published, listening=listening
            )

    async def _wait_before_next_look(
        self, conn: asyncpg.Connection, *, published: int, listening: bool
    ) -> bool:
        """Wait until the next look is worth its round trip; returns whether `conn` listens."""
        if published == self._batch_size:
            return listening  # more rows wait already
        if published >= _DRAINING_BATCH or (published and not listening):
            # Rows come faster than one per gather interval, so the next look will find some:
            # their NOTIFYs would only cost, ~25 us of PostgreSQL CPU each on this connection
            # and a callback in this process (bench/api/FINDINGS.md).
            if listening:
                await conn.remove_listener(outbox.NOTIFY_CHANNEL, self._on_notify)
            await self._pause(self._gather_seconds)
            return False
        if not listening:
            # Listen, then look once more: a row committed before the LISTEN is seen by that
            # look, one committed after it sends a NOTIFY that reaches us.
            await conn.add_listener(outbox.NOTIFY_CHANNEL, self._on_notify)
            return True
        await self._wait_for_work()
        # Let the rows of a burst gather for a few ms, so one SELECT, one DELETE (and its WAL
        # flush) and one NATS write carry several events: at 1,000 sends/s a batch per NOTIFY
        # was most of the relay's cost, in the API process and in PostgreSQL.
        await self._pause(self._gather_seconds)
        return True

    async def _publish_batch(self, conn: asyncpg.Connection) -> tuple[int, bool]:
        """Publish up to one batch in seq order; returns (rows published, whether one failed)."""
        rows = await conn.fetch(
            """SELECT seq, event_id, subject, payload, headers FROM outbox
               WHERE published_at IS NULL ORDER BY seq LIMIT $1""",
            self._batch_size,
        )
        if not rows:
            return 0, False
        stored: list[int] = []
        with _tracer.start_as_current_span("outbox.publish_batch"):
            try:
                failed = await self._publish_rows(rows, stored)
            finally:
                if stored:
                    # Deleted at once rather than marked and deleted later: one tuple version
                    # per event instead of three, and the SELECT above never wades through
                    # published rows (bench/api/FINDINGS.md).
                    await conn.execute("DELETE FROM outbox WHERE seq = ANY($1::bigint[])", stored)
        return len(stored), failed

    async def _publish_rows(self, rows: list[asyncpg.Record], stored: list[int]) -> bool:
        """Publish `rows` in order, appending the seq of each stored row to `stored`; True
        when a failure other than a conflict stopped them (the caller backs off)."""
        pending = rows
        while pending and not self._stopping.is_set():
            started = time.perf_counter()
            outcome = await self._publisher.publish_in_order([_outbound(row) for row in pending])
            OUTBOX_BATCH_SECONDS.observe(time.perf_counter() - started)
            done, pending = pending[: outcome.stored], pending[outcome.stored :]
            stored.extend(row["seq"] for row in done)
            for row in done:
                metrics.EVENTS_PUBLISHED.labels(row["subject"].rsplit(".", 1)[-1]).inc()
            if outcome.error is None:
                return False
            if isinstance(outcome.error, ports.PublishConflict) and done:
                OUTBOX_PUBLISH_CONFLICTS.inc()  # the next round starts at pending[0]: progress
                continue
            metrics.OUTBOX_PUBLISH_FAILURES.inc()
            log.warning(
                "publishing an outbox row failed; retrying it after a pause",
                extra={
                    "seq": pending[0]["seq"],
                    "subject": pending[0]["subject"],
                    "error": repr(outcome.error),
                },
            )
            return True
        return False

    def _on_notify(self, *_: object) -> None:
        OUTBOX_NOTIFICATIONS.inc()
        self._wake.set()

    def _set_leader(self, leader: bool) -> None:
        self._leader = leader
        OUTBOX_LEADER.set(1 if leader else 0)

    async def _wait_for_work(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self._poll_seconds)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)


async def _delete_rows_marked_by_older_relays(conn: asyncpg.Connection) -> None:
    # A relay from before migration 0005 marks published rows (published_at) instead of
    # deleting them; while one still runs beside this version (a rolling upgrade), what it
    # marked is cleared here. The outbox holds only unpublished rows otherwise: a short scan.
    await conn.execute("DELETE FROM outbox WHERE published_at IS NOT NULL")


def _outbound(row: asyncpg.Record) -> ports.OutboundEvent:
    return ports.OutboundEvent(
        subject=row["subject"],
        payload=bytes(row["payload"]),
        msg_id=str(row["event_id"]),
        headers=json.loads(row["headers"]),
    )


async def _measure_lag(conn: asyncpg.Connection) -> OutboxLag:
    row = await conn.fetchrow(
        """SELECT count(*) AS unpublished,
                  coalesce(extract(epoch FROM clock_timestamp() - min(created_at)), 0) AS age
           FROM outbox WHERE published_at IS NULL"""
    )
    lag = OutboxLag(int(row["unpublished"]), max(0.0, float(row["age"])))
    OUTBOX_UNPUBLISHED.set(lag.unpublished)
    OUTBOX_OLDEST_AGE.set(lag.oldest_age_seconds)
    return lag
