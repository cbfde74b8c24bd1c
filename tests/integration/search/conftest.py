"""Fixtures for the indexer and search tests: a migrated database, a JetStream stream of our own,
a way to publish message events as the outbox relay does, and an indexer running on them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.js import errors as nats_errors

from gochat.adapters.nats import connection, stream
from gochat.adapters.postgres import migrations
from gochat.adapters.postgres.database import Database
from gochat.core import config
from tests.fixtures import servers
from tests.integration.search import support


@pytest.fixture
async def search_dsn(pg_database: str) -> str:
    await migrations.apply(pg_database, migrations.default_directory())
    return pg_database


@pytest.fixture
async def search_db(search_dsn: str) -> AsyncIterator[Database]:
    db = await Database.connect(search_dsn, service="test", min_size=0, max_size=4)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
async def events_out(nats_server: servers.NatsServer) -> AsyncIterator[support.EventsOut]:
    """A stream of our own capturing `gochat.ev.>`, deleted afterwards: NATS is shared by the
    session and two streams may not capture the same subjects."""
    client = await connection.connect(nats_server.url, name="test-search-publisher")
    name = f"TEST_SEARCH_{uuid.uuid4().hex[:10].upper()}"
    await _remove_leftover_event_stream(client.jetstream())
    await stream.ensure_stream(client.jetstream(), name)
    try:
        yield support.EventsOut(client, name)
    finally:
        if not client.is_connected:
            nats_server.start()
            await client.flush(timeout=10)
        await client.jetstream().delete_stream(name)
        await client.close()


@pytest.fixture
def indexer_config(
    search_dsn: str, nats_server: servers.NatsServer, events_out: support.EventsOut
) -> config.IndexerConfig:
    return support.make_indexer_config(search_dsn, nats_server.url, events_out.stream)


async def _remove_leftover_event_stream(js: Any) -> None:
    """Delete a stream an earlier test left capturing `gochat.ev.>` (the API fixture and the ws
    harness create GOCHAT_EVENTS and keep it): ours could not be created beside it. Tests run
    one at a time, so no running test owns it any more."""
    try:
        leftover = await js.find_stream_name_by_subject("gochat.ev.guild.0.MESSAGE_CREATE")
    except nats_errors.NotFoundError:
        return
    await js.delete_stream(leftover)
