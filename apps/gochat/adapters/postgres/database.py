"""An asyncpg pool whose every round trip has a name, as Synapse's `runInteraction` does: the
name labels the latency histogram and the trace span, so a slow query is found by what it does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from typing import Any

import asyncpg

from gochat.core import metrics, tracing

_tracer = tracing.tracer(__name__)


CANCELLED = "cancelled"


class Database:
    def __init__(self, pool: asyncpg.Pool, *, service: str) -> None:
        self._pool = pool
        self._service = service
        # Asked once (tracing is set up before any pool is made): a no-op span still costs a
        # context attach and detach (~4 us, twice per send), and asking costs ~2.5 us itself.
        self._traced = tracing.recording()

    @classmethod
    async def connect(
        cls, dsn: str, *, service: str, min_size: int = 1, max_size: int = 10
    ) -> Database:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            command_timeout=30,
            reset=_keep_session,
        )
        return cls(pool, service=service)

    def _span(self, name: str) -> AbstractContextManager[object]:
        if self._traced:
            return _tracer.start_as_current_span(f"db.{name}")
        return nullcontext()

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool

    # A caller cancelled mid-way (the client went away, a timeout around it) is no database
    # error: timed apart, so the error rate on the dashboard means what it says.
    @asynccontextmanager
    async def transaction(self, name: str) -> AsyncIterator[asyncpg.Connection]:
        """A connection inside one transaction, committed on success, rolled back on error."""
        started = time.perf_counter()
        outcome = "error"
        with self._span(name):
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    yield conn
                outcome = "ok"
            except asyncio.CancelledError:
                outcome = CANCELLED
                raise
            finally:
                metrics.DB_QUERY_LATENCY.labels(self._service, name, outcome).observe(
                    time.perf_counter() - started
                )

    @asynccontextmanager
    async def connection(self, name: str) -> AsyncIterator[asyncpg.Connection]:
        """A connection without an explicit transaction, for single-statement reads."""
        started = time.perf_counter()
        outcome = "error"
        with self._span(name):
            try:
                async with self._pool.acquire() as conn:
                    yield conn
                outcome = "ok"
            except asyncio.CancelledError:
                outcome = CANCELLED
                raise
            finally:
                metrics.DB_QUERY_LATENCY.labels(self._service, name, outcome).observe(
                    time.perf_counter() - started
                )

    async def fetch(self, name: str, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self.connection(name) as conn:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
            return rows

    async def fetchrow(self, name: str, sql: str, *args: Any) -> asyncpg.Record | None:
        async with self.connection(name) as conn:
            row: asyncpg.Record | None = await conn.fetchrow(sql, *args)
            return row

    async def ping(self) -> None:
        async with self._pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")

    async def close(self) -> None:
        await self._pool.close()


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What the pool does to a released connection beyond asyncpg's own rollback of an open
    transaction: nothing. asyncpg's default runs `SELECT pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL` there: a round trip per checkout, two of the five a send makes.

    Safe because nothing that borrows a pooled connection leaves session state on it:
    - settings: no `SET` / `set_config(..., false)`; the only session settings are the pool's
      connect arguments, the same on every connection;
    - locks: every advisory lock on a pooled connection is transaction-scoped
      (`pg_advisory_xact_lock` in outbox.py), gone at COMMIT or ROLLBACK; the relay's
      leadership lock (`pg_try_advisory_lock`, session-scoped) and the migrations' lock are
      taken on connections of their own (`asyncpg.connect`), never on the pool's;
    - LISTEN: only the relay's own connection listens (and asyncpg drops the Python-side
      listeners of a released connection anyway);
    - cursors and temporary tables: none are opened or created.
    Code that needs any of these must take its own connection (or reset what it set before
    release): the API tests check every released connection for leftovers
    (tests/integration/api/conftest.py, `session_state_leaks`)."""
