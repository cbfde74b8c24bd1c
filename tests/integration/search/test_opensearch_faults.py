"""The indexer on a real OpenSearch node when things go wrong: the node stops while messages
flow, the index refuses writes (a write block: every bulk item fails), the indexer restarts
mid-stream. Each time the index ends up holding exactly the messages sent, no dead letters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY

from gochat.adapters.nats import indexer_consumer
from gochat.adapters.opensearch import make_client, schema
from gochat.adapters.opensearch.search import OpenSearchSearchIndex
from gochat.core import config, events
from gochat.indexer import app as indexer_app
from gochat.indexer.worker import IndexWorker
from tests.fixtures import opensearch as opensearch_fixtures
from tests.integration.search import support
from tests.integration.search.support import Chat, EventsOut, eventually

CHANNEL = support.next_id()


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def index(
    opensearch_server: opensearch_fixtures.OpenSearchServer, opensearch_names: schema.Names
) -> AsyncIterator[OpenSearchSearchIndex]:
    client = make_client(opensearch_server.url, timeout=5)
    try:
        # As in production: no refresh per write (tests refresh before they count).
        yield OpenSearchSearchIndex(client, opensearch_names)
    finally:
        await client.close()


async def indexed_ids(index: OpenSearchSearchIndex) -> set[int]:
    """Live (not tombstoned) documents behind the read alias, after a refresh."""
    client = index._client
    await client.indices.refresh(index=index.names.read_alias)
    response = await client.search(
        index=index.names.read_alias,
        body={
            "query": {"bool": {"must_not": [{"term": {"deleted": True}}]}},
            "size": 10_000,
            "_source": False,
        },
    )
    return {int(hit["_id"]) for hit in response["hits"]["hits"]}


async def has_ids(index: OpenSearchSearchIndex, expected: set[int]) -> bool:
    try:
        return await indexed_ids(index) == expected
    except Exception:  # the node is still starting
        return False


class RunningWorker:
    """The indexer's worker and consumer on the test's stream, with short back-offs."""

    def __init__(self, cfg: config.IndexerConfig, events_out: EventsOut, index: object) -> None:
        self.consumer = indexer_consumer.IndexerConsumer(
            events_out.client, stream=cfg.nats_stream, name=cfg.consumer_name, batch_size=10
        )
        search_index: OpenSearchSearchIndex = index  # type: ignore[assignment]
        self.worker = IndexWorker(
            source=self.consumer,
            index=search_index,
            index_healthy=search_index.ping,
            max_deliveries=2,  # a batch counted as failing twice would be dead-lettered
            poll_seconds=0.2,
            retry_delay=0.2,
            max_batch=10,
        )
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> IndexWorker:
        await self.consumer.start()
        self.task = asyncio.create_task(self.worker.run())
        return self.worker

    async def __aexit__(self, *exc: object) -> None:
        self.worker.stop()
        assert self.task is not None
        await asyncio.wait_for(self.task, timeout=15)
        await self.consumer.stop()


async def test_node_stopped_while_messages_flow_loses_nothing(
    opensearch_server: opensearch_fixtures.OpenSearchServer,
    indexer_config: config.IndexerConfig,
    events_out: EventsOut,
    index: OpenSearchSearchIndex,
) -> None:
    chat = Chat()
    before = [chat.message(f"before outage {n}", channel_id=CHANNEL) for n in range(20)]
    during = [chat.message(f"during outage {n}", channel_id=CHANNEL) for n in range(30)]
    dead_before = metric("gochat_indexer_dead_letters_total", reason="failing")
    retries_before = metric("gochat_indexer_retries_total")
    async with RunningWorker(indexer_config, events_out, index):
        await events_out.send(*(chat.created(m) for m in before))
        expected = {m.id for m in before}
        await eventually(lambda: has_ids(index, expected), what="the first messages")

        opensearch_server.stop()
        try:
            sent: list[events.Event] = [chat.created(m) for m in during]
            sent.append(chat.deleted(before[0]))
            sent.append(chat.deleted(during[0]))
            sent.append(chat.edited(during[1], "rewritten during the outage")[1])
            await events_out.send(*sent)

            async def lag_visible() -> bool:
                return (
                    metric("gochat_indexer_index_available") == 0
                    and metric("gochat_indexer_consumer_lag") > 0
                    and metric("gochat_indexer_retries_total") > retries_before
                )

            await eventually(lag_visible, within=30, what="the outage to show in the metrics")
            await asyncio.sleep(1.0)  # a few more attempts, all refused
        finally:
            opensearch_server.start()

        expected = {m.id for m in before[1:]} | {m.id for m in during[1:]}
        await eventually(lambda: has_ids(index, expected), within=60, what="catching up")
        assert metric("gochat_indexer_index_available") == 1
    assert len(await indexed_ids(index)) == 48
    assert metric("gochat_indexer_dead_letters_total", reason="failing") == dead_before


async def test_a_write_block_fails_every_item_and_nothing_is_acknowledged(
    indexer_config: config.IndexerConfig, events_out: EventsOut, index: OpenSearchSearchIndex
) -> None:
    chat = Chat()
    posted = [chat.message(f"blocked {n}", channel_id=CHANNEL) for n in range(15)]
    client = index._client
    write_index = (await schema.alias_targets(client, index.names.write_alias))[0]
    failed_before = metric(
        "gochat_search_bulk_failed_items_total", reason="cluster_block_exception"
    )
    dead_before = metric("gochat_indexer_dead_letters_total", reason="failing")
    await client.indices.put_settings(index=write_index, body={"index.blocks.write": True})
    try:
        async with RunningWorker(indexer_config, events_out, index):
            await events_out.send(*(chat.created(m) for m in posted))

            async def refused() -> bool:
                failed = metric(
                    "gochat_search_bulk_failed_items_total", reason="cluster_block_exception"
                )
                return failed >= failed_before + 15 and (
                    metric("gochat_indexer_index_available") == 0
                )

            await eventually(refused, what="the bulk items to be refused")
            info = await events_out.js.consumer_info(
                indexer_config.nats_stream, indexer_config.consumer_name
            )
            assert info.ack_floor.stream_seq == 0  # nothing acknowledged
            assert await indexed_ids(index) == set()

            await client.indices.put_settings(index=write_index, body={"index.blocks.write": None})
            expected = {m.id for m in posted}
            await eventually(lambda: has_ids(index, expected), what="indexing after the block")
    finally:
        await client.indices.put_settings(index=write_index, body={"index.blocks.write": None})
    assert metric("gochat_indexer_dead_letters_total", reason="failing") == dead_before


async def test_indexer_restarted_mid_stream_loses_and_duplicates_nothing(
    opensearch_server: opensearch_fixtures.OpenSearchServer,
    opensearch_names: schema.Names,
    indexer_config: config.IndexerConfig,
    events_out: EventsOut,
    index: OpenSearchSearchIndex,
) -> None:
    cfg = indexer_config.model_copy(
        update={
            "search_backend": "opensearch",
            "opensearch_url": opensearch_server.url,
            "opensearch_index_prefix": opensearch_names.prefix,
            "batch_size": 20,
        }
    )
    chat = Chat()
    posted = [chat.message(f"stream item {n}", channel_id=CHANNEL) for n in range(300)]

    async def publish() -> None:
        for start in range(0, len(posted), 10):
            await events_out.send(*(chat.created(m) for m in posted[start : start + 10]))
            await asyncio.sleep(0.05)

    publishing = asyncio.create_task(publish())
    async with indexer_app.running_indexer(cfg):

        async def some_indexed() -> bool:
            return len(await indexed_ids(index)) >= 40

        await eventually(some_indexed, what="part of the stream to be indexed")
    midway = len(await indexed_ids(index))
    assert midway < len(posted)  # stopped mid-stream
    async with indexer_app.running_indexer(cfg):
        await publishing
        expected = {m.id for m in posted}
        await eventually(lambda: has_ids(index, expected), within=60, what="the rest")
    client = index._client
    count = await client.count(index=opensearch_names.read_alias)
    assert count["count"] == len(posted)
