"""Builds the indexer process: its HTTP probes, and the worker started and stopped by the
lifespan (on SIGTERM the batch in hand finishes and is acknowledged before connections close)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import FastAPI
from nats.aio import client as nats_client

from gochat import composition
from gochat.adapters.nats import connection, indexer_consumer, stream
from gochat.adapters.postgres.database import Database
from gochat.core import http
from gochat.core.config import IndexerConfig
from gochat.indexer.worker import IndexWorker

log = logging.getLogger(__name__)


@dataclass
class IndexerContext:
    db: Database
    nats: nats_client.Client
    consumer: indexer_consumer.IndexerConsumer
    worker: IndexWorker
    task: asyncio.Task[None]


def build_app(config: IndexerConfig) -> FastAPI:
    holder: dict[str, IndexerContext] = {}
    # A search backend without an adapter, or without its keys, stops us here.
    backends = composition.Backends(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_indexer(config, backends) as ctx:
            holder["ctx"] = app.state.ctx = ctx
            yield

    async def database_ready() -> None:
        await holder["ctx"].db.ping()

    async def nats_ready() -> None:
        ctx = holder["ctx"]
        if not ctx.nats.is_connected:
            raise ConnectionError("not connected to NATS")
        if ctx.task.done():
            raise RuntimeError("the indexing loop stopped")

    return http.create_app(
        service="indexer",
        title="GoChat search indexer",
        max_body_bytes=1024,
        lifespan=lifespan,
        readiness_checks=[
            ("postgres", database_ready),
            ("nats", nats_ready),
            *backends.readiness_checks(),
        ],
    )


@contextlib.asynccontextmanager
async def running_indexer(
    config: IndexerConfig, backends: composition.Backends | None = None
) -> AsyncIterator[IndexerContext]:
    """Connect, start the worker; on exit stop it after its batch, then close connections."""
    backends = backends or composition.Backends(config)
    db = await Database.connect(
        config.pg_dsn, service="indexer", min_size=config.pg_pool_min, max_size=config.pg_pool_max
    )
    try:
        client = await connection.connect_with(config, name="gochat-indexer")
        try:
            await stream.ensure_stream(
                client.jetstream(), config.nats_stream, limits=stream.limits_for(config)
            )
            consumer = indexer_consumer.IndexerConsumer(
                client,
                stream=config.nats_stream,
                name=config.consumer_name,
                batch_size=config.batch_size,
            )
            await consumer.start()
            index = backends.search_index(db)
            # The index's own health where it is a server of its own (OpenSearch: reachable,
            # and its write index not blocked); PostgreSQL's otherwise.
            checks = [check for _, check in backends.readiness_checks()]
            worker = IndexWorker(
                source=consumer,
                index=index,
                index_healthy=checks[0] if checks else db.ping,
                max_deliveries=config.max_deliveries,
                max_batch=config.batch_size,
            )
            task = asyncio.create_task(worker.run(), name="indexer-worker")
            try:
                yield IndexerContext(db, client, consumer, worker, task)
            finally:
                await _stop_worker(worker, task, grace=config.shutdown_grace_seconds)
                await consumer.stop()
        finally:
            # drain() flushes the acknowledgements already written before closing.
            with contextlib.suppress(Exception):
                await client.drain()
    finally:
        await backends.aclose()
        await db.close()


async def _stop_worker(worker: IndexWorker, task: asyncio.Task[None], *, grace: float) -> None:
    worker.stop()
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=grace)
    except TimeoutError:
        log.warning("indexer batch did not finish within the grace period; cancelling")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    except Exception:
        log.exception("indexer worker failed")
