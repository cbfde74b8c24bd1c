"""A Cassandra session wrapper for tests: the store runs its queries through it, and it records
each one (name and arguments, in the order they started) before handing it to the real session.
Subclasses change what a query does by overriding `execute` (hold it, fail it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from gochat.adapters.cassandra import messages as cassandra_messages
from gochat.adapters.cassandra import session as cassandra_session
from gochat.adapters.postgres import database


class CountingSession:
    """The store's session, recording every query: `calls` in order, `counts` by name."""

    def __init__(self, inner: cassandra_session.CassandraSession) -> None:
        self._inner = inner
        self.keyspace = inner.keyspace
        self.statements = inner.statements
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.counts: dict[str, int] = {}

    async def prepare_all(self, statements: Any) -> None:
        await self._inner.prepare_all(statements)

    async def run(self, name: str, statement: Any = None, args: Any = ()) -> Any:
        self.calls.append((name, tuple(args)))
        self.counts[name] = self.counts.get(name, 0) + 1
        return await self.execute(name, statement, args)

    async def execute(self, name: str, statement: Any, args: Any) -> Any:
        return await self._inner.run(name, statement, args)


async def open_store(
    session: CountingSession, message_db: database.Database
) -> cassandra_messages.CassandraMessageStore:
    """A Cassandra message store whose queries go through `session`."""
    return await cassandra_messages.CassandraMessageStore.open(
        session,  # type: ignore[arg-type]
        relational_db=message_db,
    )


@pytest.fixture
async def store_and_session(
    message_db: database.Database,
    cassandra_keyspace: cassandra_session.Settings,
    cassandra_db: cassandra_session.CassandraSession,
) -> AsyncIterator[tuple[cassandra_messages.CassandraMessageStore, CountingSession]]:
    counting = CountingSession(cassandra_db)
    yield await open_store(counting, message_db), counting
