"""The event stream gets the replicas the services' configuration asks for, on a real NATS: one
server, and a JetStream cluster of three started by the test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import nats as nats_client
import pytest
from nats.js import client as js_client
from nats.js import errors as js_errors

from gochat.adapters.nats import stream
from gochat.core import config
from gochat.embedded import nats, process
from tests.fixtures import servers


def _settings(**values: object) -> config.ApiConfig:
    return config.ApiConfig.model_validate(values)


@pytest.fixture(scope="module")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[nats.EmbeddedNats]]:
    """Three JetStream servers routed to each other, started together (quorum needs two)."""
    root = tmp_path_factory.mktemp("nats-cluster")
    cluster_ports = [process.free_port() for _ in range(3)]
    members = [
        nats.EmbeddedNats(
            data_dir=root / f"n{index}",
            port=process.free_port(),
            cluster_port=port,
            routes=[other for other in cluster_ports if other != port],
            start_timeout=60,
        )
        for index, port in enumerate(cluster_ports)
    ]
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(lambda member: member.start(), members))
        yield members
    finally:
        for member in members:
            member.stop()


async def _jetstream(url: str) -> AsyncIterator[js_client.JetStreamContext]:
    client = await nats_client.connect(url)
    try:
        yield client.jetstream()
    finally:
        await client.close()


async def _ensure(js: js_client.JetStreamContext, name: str, replicas: int) -> int:
    limits = stream.limits_for(_settings(nats_stream_replicas=replicas))
    info = await stream.ensure_stream(js, name, limits=limits, subjects=[f"test.{name}.>"])
    return int(info.config.num_replicas or 1)


async def test_a_single_server_gets_the_one_replica_configured_by_default(
    nats_server: servers.NatsServer,
) -> None:
    name = f"DURABLE_{uuid.uuid4().hex[:8].upper()}"
    async for js in _jetstream(nats_server.url):
        assert await _ensure(js, name, config.ApiConfig().nats_stream_replicas) == 1
        await js.delete_stream(name)


async def test_more_replicas_than_servers_is_refused_naming_the_key_and_changes_nothing(
    nats_server: servers.NatsServer,
) -> None:
    name = f"DURABLE_{uuid.uuid4().hex[:8].upper()}"
    async for js in _jetstream(nats_server.url):
        with pytest.raises(stream.StreamConfigError, match="nats_stream_replicas is 3"):
            await _ensure(js, name, 3)
        with pytest.raises(js_errors.NotFoundError):
            await js.stream_info(name)
        assert await _ensure(js, name, 1) == 1
        with pytest.raises(stream.StreamConfigError, match="nats_stream_replicas is 3"):
            await _ensure(js, name, 3)
        assert (await js.stream_info(name)).config.num_replicas == 1
        await js.delete_stream(name)


async def test_a_cluster_stream_is_created_with_three_replicas_and_rescaled_in_place(
    nats_cluster: list[nats.EmbeddedNats],
) -> None:
    async for js in _jetstream(nats_cluster[0].url):
        created = f"DURABLE_{uuid.uuid4().hex[:8].upper()}"
        assert await _ensure(js, created, 3) == 3
        info = await js.stream_info(created)
        assert info.cluster is not None
        assert info.cluster.leader is not None
        assert len(info.cluster.replicas or []) == 2

        # A stream made with one replica (today's default) gains two when the config says 3,
        # keeping its messages; the copies catch up from the leader.
        existing = f"DURABLE_{uuid.uuid4().hex[:8].upper()}"
        assert await _ensure(js, existing, 1) == 1
        await js.publish(f"test.{existing}.event", b"kept")
        assert await _ensure(js, existing, 3) == 3
        for _ in range(100):
            info = await js.stream_info(existing)
            replicas = info.cluster.replicas if info.cluster else None
            if replicas and len(replicas) == 2 and all(r.current for r in replicas):
                break
            await asyncio.sleep(0.1)
        assert info.config.num_replicas == 3
        assert info.state.messages == 1
        assert replicas is not None
        assert [r.current for r in replicas] == [True, True]
        for name in (created, existing):
            await js.delete_stream(name)
