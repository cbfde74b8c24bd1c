"""Fixtures for the gateway's integration tests: a migrated database, a world in it, a JWKS
endpoint and a factory of real gateway processes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.accounts import migrated_database
from tests.fixtures.servers import NatsServer
from tests.integration.ws import harness

__all__ = ["migrated_database"]


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "jwt"


@pytest.fixture
def jwks_url(keys_dir: Path) -> Iterator[str]:
    from tests.fixtures import accounts

    accounts.jwks(keys_dir)  # creates the key
    with harness.jwks_server(keys_dir) as url:
        yield url


@pytest.fixture
async def world(
    migrated_database: str, keys_dir: Path, nats_server: NatsServer
) -> AsyncIterator[harness.World]:
    w = harness.World(dsn=migrated_database, keys_dir=keys_dir, nats_url=nats_server.url)
    await w.open()
    try:
        yield w
    finally:
        await w.close()


@pytest.fixture
def gateways(
    migrated_database: str, nats_server: NatsServer, jwks_url: str, tmp_path: Path
) -> Iterator[Callable[..., harness.GatewayProc]]:
    """`gateways(*args, **config)` starts one more gateway process; all are stopped at the end.
    With `hold_dir`, the process waits at the hold points of hold/sitecustomize.py while their
    files exist there; with `ready=False`, it is not waited for."""
    started: list[harness.GatewayProc] = []

    def start(
        *args: str, hold_dir: Path | None = None, ready: bool = True, **overrides: Any
    ) -> harness.GatewayProc:
        env = harness.gateway_env(
            dsn=migrated_database, nats_url=nats_server.url, jwks_url=jwks_url, **overrides
        )
        if hold_dir is not None:
            env |= harness.hold_env(hold_dir)
        log_path = tmp_path / f"ws{len(started)}.log"
        gateway = harness.GatewayProc(env=env, log_path=log_path, args=args)
        started.append(gateway)
        gateway.start(wait_ready=ready)
        return gateway

    try:
        yield start
    finally:
        for gateway in started:
            gateway.stop()
