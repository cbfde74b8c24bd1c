"""Fixtures for the MessageStore contract suite (test_message_store_*.py).

`message_store` is parametrized over ADAPTERS: a Cassandra adapter joins the suite by adding
one entry (a context manager that yields a MessageStoreHarness). Users, guilds and channels
live in PostgreSQL for every adapter, so `world` creates them there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from gochat.adapters.postgres import database, messages, migrations
from gochat.core import events
from tests.integration.ports import message_world


@asynccontextmanager
async def postgres_message_store(
    db: database.Database,
) -> AsyncIterator[message_world.MessageStoreHarness]:
    async def recorded_events() -> list[events.Event]:
        rows = await db.fetch("recorded_events", "SELECT payload FROM outbox ORDER BY seq")
        return [events.parse(bytes(row["payload"])) for row in rows]

    yield message_world.MessageStoreHarness(messages.PostgresMessageStore(db), recorded_events)


ADAPTERS: dict[
    str,
    Callable[[database.Database], AbstractAsyncContextManager[message_world.MessageStoreHarness]],
] = {
    "postgres": postgres_message_store,
}


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
async def harness(
    request: pytest.FixtureRequest, message_db: database.Database
) -> AsyncIterator[message_world.MessageStoreHarness]:
    async with ADAPTERS[request.param](message_db) as adapter:
        yield adapter
