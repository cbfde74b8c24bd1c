"""Fixtures for the event pipeline: a migrated database, a JetStream stream of our own, relays,
and writers that record what they committed so a test can compare it with what arrived."""

from __future__ import annotations

import typing
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest
from nats.aio import client as nats_client

from gochat import ports
from gochat.adapters.nats import connection, publisher, stream
from gochat.adapters.postgres import database, migrations, outbox_relay
from tests.fixtures import servers
from tests.integration.events import pipeline


@pytest.fixture
async def migrated_dsn(pg_database: str) -> str:
    await migrations.apply(pg_database, migrations.default_directory())
    return pg_database


@pytest.fixture
async def db(migrated_dsn: str) -> AsyncIterator[database.Database]:
    pool = await database.Database.connect(migrated_dsn, service="test", max_size=20)
    # A witness of commit order: writers of one scope bump its row, which serializes them.
    await pool.fetch(
        "create_counters",
        "CREATE TABLE scope_counters (scope_id bigint PRIMARY KEY, n bigint NOT NULL DEFAULT 0)",
    )
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def client(nats_server: servers.NatsServer) -> AsyncIterator[nats_client.Client]:
    """A plain NATS connection of the test's own (the stream and publisher tests)."""
    nc = await connection.connect(nats_server.url, name="test-events")
    try:
        yield nc
    finally:
        await nc.close()


@pytest.fixture
async def stream_name(client: nats_client.Client) -> AsyncIterator[str]:
    """A stream of our own with a small message size limit (the publisher tests), deleted after."""
    name = f"TEST_{uuid.uuid4().hex[:12].upper()}"
    await pipeline.remove_streams_capturing_events(client)
    await stream.ensure_stream(
        client.jetstream(), name, limits=stream.StreamLimits(max_msg_size=pipeline.MAX_MSG_SIZE)
    )
    try:
        yield name
    finally:
        await client.jetstream().delete_stream(name)


@pytest.fixture
async def event_stream(nats_server: servers.NatsServer) -> AsyncIterator[pipeline.EventStream]:
    """A stream of our own capturing `gochat.ev.>`, deleted afterwards: NATS is shared by the
    session and two streams may not capture the same subjects."""
    client = await connection.connect(nats_server.url, name="test-reader")
    name = f"TEST_{uuid.uuid4().hex[:12].upper()}"
    await pipeline.remove_streams_capturing_events(client)
    await stream.ensure_stream(client.jetstream(), name)
    try:
        yield pipeline.EventStream(name, client)
    finally:
        if not client.is_connected:
            nats_server.start()
            await client.flush(timeout=10)
        await client.jetstream().delete_stream(name)
        await client.close()


@pytest.fixture
async def make_relay(
    migrated_dsn: str,
    db: database.Database,
    event_stream: pipeline.EventStream,
    nats_server: servers.NatsServer,
) -> AsyncIterator[pipeline.RelayFactory]:
    """Started relays, each with its own NATS connection as replicas have; all stopped after."""
    started: list[tuple[outbox_relay.OutboxRelay, nats_client.Client]] = []

    async def make(
        *,
        publish_delay: float = 0,
        max_in_flight: int = 256,
        wrap_client: Callable[[nats_client.Client], object] | None = None,
        after_publish: Callable[[Sequence[ports.OutboundEvent]], Awaitable[None]] | None = None,
        wrap_publisher: Callable[[ports.EventPublisher], ports.EventPublisher] | None = None,
        **options: object,
    ) -> outbox_relay.OutboxRelay:
        """`wrap_client` puts something between the publisher and its NATS connection,
        `wrap_publisher` between the relay and its publisher."""
        client = await connection.connect(nats_server.url, name="test-relay")
        jetstream = publisher.JetStreamPublisher(
            typing.cast(nats_client.Client, wrap_client(client) if wrap_client else client),
            stream=event_stream.name,
            ack_timeout=2.0,
            max_in_flight=max_in_flight,
            # Atomic batches whenever two events of a scope wait: the relay tests hold the
            # batched path to the same rules as the one-at-a-time path.
            max_atomic_batches=publisher.ATOMIC_BATCHES_IN_FLIGHT,
            min_atomic_batch=2,
        )
        chosen: ports.EventPublisher = jetstream
        if publish_delay:
            chosen = pipeline.SlowPublisher(chosen, publish_delay)
        if after_publish:
            chosen = pipeline.HookedPublisher(chosen, after_publish)
        if wrap_publisher:
            chosen = wrap_publisher(chosen)
        relay = outbox_relay.OutboxRelay(
            dsn=migrated_dsn,
            database=db,
            publisher=chosen,
            **{"batch_size": 64, "poll_seconds": 0.2, "max_backoff_seconds": 1.0, **options},  # type: ignore[arg-type]
        )
        await relay.start()
        started.append((relay, client))
        return relay

    try:
        yield make
    finally:
        for relay, client in started:
            await relay.stop(grace_seconds=10)
            await client.close()


@pytest.fixture
async def writers(db: database.Database) -> pipeline.Writers:
    result = pipeline.Writers(db)
    await result.add_scopes([101, 202, 303, 404])
    return result
