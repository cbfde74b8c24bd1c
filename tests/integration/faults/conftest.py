"""Fixtures for the fault tests: a private NATS (the event stream holds this test's events
only), the Cassandra keyspace, a migrated database, a JWKS endpoint, and the API, indexer and
gateway as real processes on them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gochat.adapters.cassandra import session as cassandra_session
from gochat.embedded import nats, process
from tests.fixtures import accounts
from tests.fixtures.accounts import migrated_database
from tests.integration.faults import services
from tests.integration.ws import harness

__all__ = ["migrated_database"]


@pytest.fixture
def private_nats(server_tmp_path: Path) -> Iterator[nats.EmbeddedNats]:
    server = nats.EmbeddedNats(data_dir=server_tmp_path / "nats", port=process.free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Platform:
    dsn: str
    nats_url: str
    keys_dir: Path
    api: services.ServiceProcess
    indexer: services.ServiceProcess
    gateway: harness.GatewayProc


@pytest.fixture
async def platform(
    migrated_database: str,
    private_nats: nats.EmbeddedNats,
    cassandra_keyspace: cassandra_session.Settings,
    tmp_path: Path,
) -> AsyncIterator[Platform]:
    """The services' processes, not started: each test starts what it needs."""
    keys_dir = tmp_path / "jwt"
    accounts.jwks(keys_dir)  # creates the signing key
    common: dict[str, Any] = {
        "pg_dsn": migrated_database,
        "pg_pool_min": 0,
        "nats_url": private_nats.url,
    }
    with harness.jwks_server(keys_dir) as jwks_url:
        api = services.ServiceProcess(
            "api",
            common
            | {
                "jwks_url": jwks_url,
                "message_store": "cassandra",
                "cassandra_hosts": ",".join(cassandra_keyspace.hosts),
                "cassandra_local_dc": cassandra_keyspace.local_dc,
                "cassandra_keyspace": cassandra_keyspace.keyspace,
                "cassandra_consistency": "LOCAL_ONE",
                "outbox_poll_seconds": 0.2,
            },
            tmp_path / "api.log",
        )
        indexer = services.ServiceProcess(
            "indexer", common | {"batch_size": 10}, tmp_path / "indexer.log"
        )
        gateway = harness.GatewayProc(
            env=harness.gateway_env(
                dsn=migrated_database, nats_url=private_nats.url, jwks_url=jwks_url
            ),
            log_path=tmp_path / "ws.log",
        )
        try:
            yield Platform(migrated_database, private_nats.url, keys_dir, api, indexer, gateway)
        finally:
            gateway.stop()
            indexer.stop()
            api.stop()
