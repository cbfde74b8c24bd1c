"""The outbox relay: publishes committed outbox rows to JetStream, in `seq` order within each
scope, forever.

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

Each batch (up to `batch_size` rows in seq order) goes to `EventPublisher.publish_per_scope`:
within a scope (the row's `scope`, or for rows written before migration 0007 the one its subject
names) an event is sent only once JetStream acknowledged the scope's previous event of the
batch, stored or duplicate; across scopes many are in flight. Every acknowledged row is then
deleted in one DELETE (JetStream keeps the history: a published row has nothing left to say),
whatever failed beside it. A failure (timeout, no stream, disconnected, a refused event) stops
only the later events of its scope; the relay then backs off with jitter and reads again from
PostgreSQL on its leader session (a session that died took the leadership with it: the next
statement fails and the relay competes for the lock again), never retrying a list in memory.

Why this keeps each scope in commit order whatever duplicates, late commits and a second leader
do: a scope's writers serialize before their rows draw a seq, so a batch that holds a scope's
row holds every earlier row of that scope that is not yet deleted, and a row is deleted only
after its PubAck. An event therefore goes out only when every earlier event of its scope is in
the stream; two relays overlapping briefly (a takeover while the old one finishes a batch)
each follow the same rule. A crash between the PubAck and the DELETE republishes a few rows:
the event id travels as `Nats-Msg-Id`, so JetStream drops those copies
(`gochat_outbox_duplicate_acks_total`) if they come within the stream's duplicate window
(`nats_duplicate_window_seconds`, exported as `gochat_outbox_duplicate_window_seconds`: alert
when `gochat_outbox_oldest_unpublished_age_seconds` approaches it). A copy that comes later is
stored again; the `GoChat-Scope` and `GoChat-Outbox-Seq` headers let a consumer drop it.

Never skipping ahead in a scope has a price: a row JetStream refuses for good (say, over
max_msg_size) holds up every later row of its scope (other scopes go on). That shows as a
growing `gochat_outbox_oldest_unpublished_age_seconds` and a log line per attempt naming the
row's seq; alert on the first. A batch costs about one round trip per event of its busiest
scope and a few event-loop turns per round trip, which is cheap over many scopes; a scope with
many events in the batch (a hot guild, a backlog) sends them as one JetStream atomic batch,
one round trip for the run, stored all or none (publisher.py says when, and why that keeps
the rule above). Figures: bench/relay/FINDINGS.md.
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
from gochat.core import events as domain_events
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

# The lag gauges are measured by the leader (every _LAG_REFRESH_SECONDS) and 0 on a replica
# that does not lead, so max() over replicas is the leader's view, not a former leader's.
OUTBOX_UNPUBLISHED = Gauge(
    "gochat_outbox_unpublished_events", "Committed outbox rows not yet published."
)
OUTBOX_OLDEST_AGE = Gauge(
    "gochat_outbox_oldest_unpublished_age_seconds", "Age of the oldest unpublished outbox row."
)
OUTBOX_LEADER = Gauge("gochat_outbox_relay_leader", "1 while this replica publishes the outbox.")
OUTBOX_DUPLICATE_ACKS = Counter(
    "gochat_outbox_duplicate_acks_total",
    "Events JetStream already held when the relay published them (re-published after a lost "
    "PubAck, a cut session or a takeover), de-duplicated by Nats-Msg-Id.",
)
OUTBOX_DUPLICATE_WINDOW = Gauge(
    "gochat_outbox_duplicate_window_seconds",
    "The stream's duplicate window: a row published later than this after its first store is "
    "stored twice. Compare with gochat_outbox_oldest_unpublished_age_seconds.",
    multiprocess_mode="livemax",
)
OUTBOX_NOTIFICATIONS = Counter(
    "gochat_outbox_notifications_total",
    "Commit notifications the relay leader received (none while it drains a steady stream).",
)
OUTBOX_BATCH_SECONDS = Histogram(
    "gochat_outbox_publish_batch_seconds",
    "Time to publish one batch until its last PubAck or failure.",
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
        duplicate_window_seconds: float | None = None,
    ) -> None:
        """`duplicate_window_seconds`: the stream's, exported as a gauge for the alert that
        compares it with the oldest unpublished row's age (unset: not exported)."""
        self._dsn, self._database, self._publisher = dsn, database, publisher
        self._gather_seconds, self._standby_poll_seconds = gather_seconds, standby_poll_seconds
        self._batch_size, self._poll_seconds = batch_size, poll_seconds
        self._cleanup_every = cleanup_every_seconds
        self._max_backoff = max_backoff_seconds
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._leader = False
        if duplicate_window_seconds is not None:
            OUTBOX_DUPLICATE_WINDOW.set(duplicate_window_seconds)

    @property
    def is_leader(self) -> bool:
        return self._leader

    async def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self, *, grace_seconds: float = 30.0) -> None:
        """Finish the batch being published, delete what was acknowledged, release leadership."""
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
            published, failed = await self.publish_batch(conn)
            if time.monotonic() >= next_lag:  # failing too: the age alert is for that case
                await _measure_lag(conn)
                next_lag = time.monotonic() + _LAG_REFRESH_SECONDS
            if failed:
                await self._pause(backoff.next_delay())
                continue
            backoff.reset()
            if time.monotonic() >= next_cleanup:
                await _delete_rows_marked_by_older_relays(conn)
                next_cleanup = time.monotonic() + self._cleanup_every
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

    async def publish_batch(self, conn: asyncpg.Connection) -> tuple[int, bool]:
        """One look: read up to one batch on `conn` (the leader's session), publish it, delete
        what was acknowledged; returns (rows deleted, whether an event failed). The leader's
        loop calls it again and again; tests call it to step a relay."""
        rows = await conn.fetch(
            """SELECT seq, event_id, subject, scope, payload, headers FROM outbox
               WHERE published_at IS NULL ORDER BY seq LIMIT $1""",
            self._batch_size,
        )
        if not rows:
            return 0, False
        with _tracer.start_as_current_span("outbox.publish_batch"):
            started = time.perf_counter()
            outcome = await self._publisher.publish_per_scope([_outbound(row) for row in rows])
            OUTBOX_BATCH_SECONDS.observe(time.perf_counter() - started)
            acked = [rows[position] for position in sorted(outcome.acked)]
            for row in acked:
                metrics.EVENTS_PUBLISHED.labels(row["subject"].rsplit(".", 1)[-1]).inc()
            OUTBOX_DUPLICATE_ACKS.inc(outcome.duplicates)
            if acked:
                # Deleted at once rather than marked and deleted later: one tuple version
                # per event instead of three, and the SELECT above never wades through
                # published rows (bench/api/FINDINGS.md).
                await conn.execute(
                    "DELETE FROM outbox WHERE seq = ANY($1::bigint[])", [r["seq"] for r in acked]
                )
        if outcome.error is None:
            return len(acked), False
        metrics.OUTBOX_PUBLISH_FAILURES.inc()
        first = next(row for position, row in enumerate(rows) if position not in outcome.acked)
        log.warning(
            "publishing outbox rows failed; reading them again after a pause",
            extra={
                "seq": first["seq"],
                "subject": first["subject"],
                "unacked": len(rows) - len(acked),
                "error": repr(outcome.error),
            },
        )
        return len(acked), True

    def _on_notify(self, *_: object) -> None:
        OUTBOX_NOTIFICATIONS.inc()
        self._wake.set()

    def _set_leader(self, leader: bool) -> None:
        self._leader = leader
        OUTBOX_LEADER.set(1 if leader else 0)
        if not leader:  # another replica measures from now on (see OUTBOX_OLDEST_AGE)
            OUTBOX_UNPUBLISHED.set(0)
            OUTBOX_OLDEST_AGE.set(0)

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
        scope=row["scope"] or scope_of_subject(row["subject"]),
        scope_seq=row["seq"],
    )


def scope_of_subject(subject: str) -> str:
    """The scope a subject names (`gochat.ev.guild.123.TYPE` -> "guild:123"), for rows written
    before the outbox had a scope column; a subject of another form is a scope of its own."""
    parts = subject.split(".")
    if len(parts) == 5 and parts[3].isdigit():
        return domain_events.scope_key(parts[2], int(parts[3]))
    return subject


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
