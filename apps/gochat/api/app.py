"""Builds the API application: context at start-up, routers, and orderly shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from gochat import composition
from gochat.adapters.postgres import uploads as pg_uploads
from gochat.adapters.postgres import worker_ids as pg_worker_ids
from gochat.adapters.postgres.database import Database
from gochat.adapters.postgres.directory import Directory
from gochat.api import background
from gochat.api.context import ApiContext
from gochat.api.routers import ROUTERS
from gochat.api.services import attachments, notifications
from gochat.core import collector, http, worker_lease
from gochat.core.config import ApiConfig
from gochat.core.tokens import TokenVerifier


def build_app(config: ApiConfig) -> FastAPI:
    holder: dict[str, ApiContext] = {}
    # Adapters come from the composition root; a choice it cannot honour stops us here.
    backends = composition.Backends(config)
    blob_store = backends.blob_store()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = await Database.connect(
            config.pg_dsn, service="api", min_size=config.pg_pool_min, max_size=config.pg_pool_max
        )
        lease = await worker_lease.WorkerIdLease.acquire(
            pg_worker_ids.PostgresWorkerIdLeases(db),
            service="api",
            wanted=config.snowflake_worker_id,
        )
        ctx = ApiContext(
            config=config,
            db=db,
            directory=Directory(db),
            messages=await backends.message_store(db),
            search=backends.search_index(db),
            verifier=TokenVerifier(jwks_url=config.jwks_url, issuer=config.jwt_issuer),
            ids=lease.generator,
            blobs=blob_store,
            uploads=pg_uploads.PostgresPendingUploads(db),
        )
        holder["ctx"] = app.state.ctx = ctx
        leases.append(lease)
        await ctx.verifier.prefetch()
        pipeline = await background.start(ctx)
        housekeeping = await attachments.start_housekeeping(ctx)
        notifier = notifications.start(ctx)
        collector.freeze_startup_heap()
        try:
            yield
        finally:
            await notifications.stop(notifier)
            await attachments.stop_housekeeping(housekeeping)
            await pipeline.stop(grace_seconds=config.shutdown_grace_seconds)
            await lease.release()
            await ctx.verifier.aclose()
            await backends.aclose()
            await db.close()

    async def database_ready() -> None:
        await holder["ctx"].db.ping()

    leases: list[worker_lease.WorkerIdLease] = []  # filled by the lifespan

    async def worker_id_ready() -> None:
        leases[0].check()

    app = http.create_app(
        service="api",
        title="GoChat API",
        max_body_bytes=config.max_body_bytes,
        lifespan=lifespan,
        readiness_checks=[
            ("postgres", database_ready),
            ("worker_id", worker_id_ready),
            *backends.readiness_checks(),
        ],
    )
    for router in ROUTERS:
        app.include_router(router)
    for middleware, options in backends.middleware:
        app.add_middleware(middleware, **options)
    return app
