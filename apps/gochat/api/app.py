"""Builds the API application: context at start-up, routers, and orderly shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from gochat import composition
from gochat.adapters.postgres.database import Database
from gochat.adapters.postgres.directory import Directory
from gochat.api import background
from gochat.api.context import ApiContext
from gochat.api.routers import ROUTERS
from gochat.core import collector, http
from gochat.core.config import ApiConfig
from gochat.core.ids import SnowflakeGenerator, default_worker_id
from gochat.core.tokens import TokenVerifier


def build_app(config: ApiConfig) -> FastAPI:
    holder: dict[str, ApiContext] = {}
    # Adapters come from the composition root; a choice it cannot honour stops us here.
    backends = composition.Backends(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = await Database.connect(
            config.pg_dsn, service="api", min_size=config.pg_pool_min, max_size=config.pg_pool_max
        )
        ctx = ApiContext(
            config=config,
            db=db,
            directory=Directory(db),
            messages=await backends.message_store(db),
            search=backends.search_index(db),
            verifier=TokenVerifier(jwks_url=config.jwks_url, issuer=config.jwt_issuer),
            ids=SnowflakeGenerator(
                config.snowflake_worker_id
                if config.snowflake_worker_id is not None
                else default_worker_id()
            ),
        )
        holder["ctx"] = app.state.ctx = ctx
        await ctx.verifier.prefetch()
        pipeline = await background.start(ctx)
        collector.freeze_startup_heap()
        try:
            yield
        finally:
            await pipeline.stop(grace_seconds=config.shutdown_grace_seconds)
            await ctx.verifier.aclose()
            await backends.aclose()
            await db.close()

    async def database_ready() -> None:
        await holder["ctx"].db.ping()

    app = http.create_app(
        service="api",
        title="GoChat API",
        max_body_bytes=config.max_body_bytes,
        lifespan=lifespan,
        readiness_checks=[("postgres", database_ready), *backends.readiness_checks()],
    )
    for router in ROUTERS:
        app.include_router(router)
    return app
