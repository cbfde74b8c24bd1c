"""Fixtures for the MessageStore contract suite (test_message_store_*.py).

`harness` is parametrized over ADAPTERS (PostgreSQL and Cassandra): each entry is a context
manager that yields a MessageStoreHarness. Users, guilds and channels live in PostgreSQL for
every adapter (and the outbox that records events), so `message_db` creates them there; the
Cassandra entry also asks for the session's Cassandra node, started only when it runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from gochat.adapters.cassandra import messages as cassandra_messages
from gochat.adapters.cassandra import session as cassandra_session
from gochat.adapters.postgres import database, messages, migrations
from gochat.core import events
from tests.integration.ports import message_world


def _outbox_of(db: database.Database) -> Callable[[], Awaitable[list[events.Event]]]:
    async def recorded_events() -> list[events.Event]:
        rows = await db.fetch("recorded_events", "SELECT payload FROM outbox ORDER BY seq")
        return [events.parse(bytes(row["payload"])) for row in rows]

    return recorded_events


@asynccontextmanager
async def postgres_message_store(
    db: database.Database, servers: dict[str, Any]
) -> AsyncIterator[message_world.MessageStoreHarness]:
    yield message_world.MessageStoreHarness(messages.PostgresMessageStore(db), _outbox_of(db))


@asynccontextmanager
async def cassandra_message_store(
    db: database.Database, servers: dict[str, Any]
) -> AsyncIterator[message_world.MessageStoreHarness]:
    session: cassandra_session.CassandraSession = servers["cassandra_db"]
    store = await cassandra_messages.CassandraMessageStore.open(session, relational_db=db)
    yield message_world.MessageStoreHarness(store, _outbox_of(db))


ADAPTERS: dict[
    str,
    Callable[
        [database.Database, dict[str, Any]],
        AbstractAsyncContextManager[message_world.MessageStoreHarness],
    ],
] = {
    "postgres": postgres_message_store,
    "cassandra": cassandra_message_store,
}
# The fixtures each adapter needs besides PostgreSQL (its server starts only when it runs).
SERVER_FIXTURES = {"postgres": (), "cassandra": ("cassandra_keyspace", "cassandra_db")}


@pytest.fixture
async def message_db(pg_database: str) -> AsyncIterator[database.Database]:
    await migrations.apply(pg_database, migrations.default_directory())
    db = await database.Database.connect(pg_database, service="test", max_size=10)
    try:
        await message_world.create(db)
        yield db
    finally:
        await db.close()


@pytest.fixture(params=sorted(ADAPTERS))
def adapter_servers(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    # Synchronous on purpose: pytest-asyncio can set up the async fixtures asked for from
    # here, not from inside a running coroutine.
    return request.param, {
        name: request.getfixturevalue(name) for name in SERVER_FIXTURES[request.param]
    }


@pytest.fixture
async def harness(
    adapter_servers: tuple[str, dict[str, Any]], message_db: database.Database
) -> AsyncIterator[message_world.MessageStoreHarness]:
    name, servers = adapter_servers
    async with ADAPTERS[name](message_db, servers) as adapter:
        yield adapter
