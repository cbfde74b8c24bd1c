"""The one Cassandra session of a process, and the bridge from the driver's thread to asyncio.

The driver runs its own event loop (libev, bundled in the wheel) in a thread of its own; a
query's callbacks run on that thread. `CassandraSession.run` hands the result (or the error)
to the awaiting coroutine's loop with `call_soon_threadsafe` and does nothing else there: the
callbacks never block the driver's loop, rows are turned into records on the service's loop,
and a failing query raises in the coroutine that awaits it.

Every query is a prepared statement, prepared once at start (`prepare_all`): token-aware
routing needs the partition key from the prepared metadata, and the server parses it once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cassandra
from cassandra import ConsistencyLevel, OperationTimedOut
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    ResponseFuture,
    Session,
)
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import PreparedStatement, Statement, dict_factory

from gochat.core import errors, metrics

log = logging.getLogger(__name__)
DEFAULT_PORT = 9042
# The driver's ways of saying "not enough replicas answered": the request may be retried later.
UNREACHABLE = (
    NoHostAvailable,
    OperationTimedOut,
    cassandra.Unavailable,
    cassandra.ReadTimeout,
    cassandra.WriteTimeout,
    cassandra.CoordinationFailure,
)


class StoreUnavailable(errors.Unavailable):
    """Cassandra could not answer; answered 503 with Retry-After. A write that timed out may
    still have been applied: the caller takes it back (or the repair sweep does)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"Retry-After": "2"})


@dataclass(frozen=True, slots=True)
class Settings:
    hosts: Sequence[str]  # host or host:port
    keyspace: str
    local_dc: str
    consistency: str = "LOCAL_QUORUM"
    request_timeout: float = 5.0
    username: str | None = None
    password: str | None = None


def contact_points(hosts: Sequence[str]) -> list[tuple[str, int]]:
    """`host` or `host:port` -> (host, port); the driver takes one port for all, so each
    contact point carries its own."""
    points = []
    for host in hosts:
        name, _, port = host.rpartition(":") if ":" in host else (host, "", "")
        points.append((name, int(port)) if port else (host, DEFAULT_PORT))
    return points


def execution_profile(settings: Settings) -> ExecutionProfile:
    """Token-aware routing over DC-aware round robin (replicas in `local_dc` first, never a
    remote DC), the configured consistency for reads and writes, LOCAL_SERIAL for the
    conditional (LWT) writes, rows as dicts."""
    return ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=settings.local_dc)),
        consistency_level=ConsistencyLevel.name_to_value[settings.consistency],
        serial_consistency_level=ConsistencyLevel.LOCAL_SERIAL,
        request_timeout=settings.request_timeout,
        row_factory=dict_factory,
    )


class CassandraSession:
    """Owns the Cluster and Session; `run(name, statement, args)` awaits one query."""

    def __init__(
        self, cluster: Cluster, session: Session, *, service: str, keyspace: str = ""
    ) -> None:
        self.keyspace = keyspace  # for qualified table names; the session has no USE
        self._cluster = cluster
        self._session = session
        self._service = service
        self.statements: dict[str, PreparedStatement] = {}

    @classmethod
    async def connect(
        cls, settings: Settings, *, service: str, statements: Mapping[str, str] | None = None
    ) -> CassandraSession:
        """Connect (in a thread: the driver's connect blocks) and prepare `statements`
        (name -> CQL, tables qualified with their keyspace). Raises what the driver raises
        when no host answers or a statement does not prepare (a missing table: run
        `gochat migrate`)."""
        auth = None
        if settings.username:
            auth = PlainTextAuthProvider(settings.username, settings.password or "")
        cluster = Cluster(
            contact_points=contact_points(settings.hosts),
            execution_profiles={EXEC_PROFILE_DEFAULT: execution_profile(settings)},
            auth_provider=auth,
            protocol_version=5,
            # The schema may be changed by `gochat migrate` only: a service never waits on it.
            schema_metadata_enabled=True,
            connect_timeout=settings.request_timeout,
        )
        try:
            session = await asyncio.to_thread(cluster.connect)
            self = cls(cluster, session, service=service, keyspace=settings.keyspace)
            if statements:
                await self.prepare_all(statements)
        except BaseException:
            await asyncio.to_thread(cluster.shutdown)
            raise
        return self

    async def prepare_all(self, statements: Mapping[str, str]) -> None:
        """Prepare each statement once (a name already prepared with the same CQL is kept)."""
        for name, cql in statements.items():
            known = self.statements.get(name)
            if known is None or known.query_string != cql:
                self.statements[name] = await asyncio.to_thread(self._session.prepare, cql)

    async def run(
        self, name: str, statement: Statement | str | None = None, args: Sequence[Any] = ()
    ) -> list[dict[str, Any]]:
        """Execute the prepared statement `name` (or `statement`), all pages of its rows.
        The name is the query's label in metrics and logs (as PostgreSQL's named
        transactions); its outcome there is "ok", "unavailable", "error", or "cancelled" when
        the awaiting coroutine was cancelled (a read-ahead read the page did not need): the
        driver may still finish it, but nobody used it, so it is no successful read."""
        query = self.statements[name] if statement is None else statement
        started = time.perf_counter()
        outcome = "ok"
        try:
            future = self._session.execute_async(query, args or None)
            rows = await _result(future)
            while future.has_more_pages:
                future.start_fetching_next_page()
                rows += await _result(future)
            return rows
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except UNREACHABLE as exc:
            outcome = "unavailable"
            raise StoreUnavailable(f"Cassandra did not answer {name}: {exc}") from exc
        except Exception:
            outcome = "error"
            raise
        finally:
            metrics.DB_QUERY_LATENCY.labels(self._service, name, outcome).observe(
                time.perf_counter() - started
            )

    async def ping(self) -> None:
        await self.run("ping", "SELECT release_version FROM system.local")

    async def close(self) -> None:
        await asyncio.to_thread(self._cluster.shutdown)


def _result(future: ResponseFuture) -> asyncio.Future[list[dict[str, Any]]]:
    """An asyncio future of the current page of `future`, completed on the caller's loop."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[list[dict[str, Any]]] = loop.create_future()

    def deliver(rows: list[dict[str, Any]] | None) -> None:
        if not waiter.done():  # the awaiting coroutine may have been cancelled
            waiter.set_result(list(rows or ()))

    def fail(exc: BaseException) -> None:
        if not waiter.done():
            waiter.set_exception(exc)

    # These two run on the driver's thread (or at once, on this one, when the page is already
    # here): they only schedule, so the driver's loop is never held up by our work.
    future.add_callbacks(
        callback=lambda rows: loop.call_soon_threadsafe(deliver, rows),
        errback=lambda exc: loop.call_soon_threadsafe(fail, exc),
    )
    return waiter
