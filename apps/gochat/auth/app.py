"""The auth service's app factory: keys and mailer from the config, the database pool opened by
the lifespan, the mail queue's background sender, and a maintenance task that purges spent rows
and picks up rotated keys."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI

from gochat import composition, ports
from gochat.adapters.postgres import accounts, mail_queue
from gochat.adapters.postgres import worker_ids as pg_worker_ids
from gochat.adapters.postgres.database import Database
from gochat.auth import keys, limits, mail_sender, passwords
from gochat.auth.context import AuthContext
from gochat.auth.routers import accounts as accounts_routes
from gochat.auth.routers import jwks as jwks_routes
from gochat.auth.routers import passwords as password_routes
from gochat.auth.routers import sessions as session_routes
from gochat.core import config, http, worker_lease

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 16 * 1024  # the largest auth request is a few hundred bytes
MAINTENANCE_INTERVAL_SECONDS = 60.0
KEEP_SPENT_ROWS = timedelta(days=1)  # spent tokens and old hits stay a day for investigations
KEEP_FAILED_MAIL = timedelta(days=7)  # given-up mails (no token left in them) stay a week


def _queue_policy(cfg: config.AuthConfig) -> mail_sender.QueuePolicy:
    return mail_sender.QueuePolicy(
        max_attempts=cfg.mail_queue_max_attempts,
        first_retry_seconds=cfg.mail_queue_retry_seconds,
        poll_seconds=cfg.mail_queue_poll_seconds,
    )


def build_app(
    cfg: config.AuthConfig,
    *,
    mailer: ports.Mailer | None = None,
    password_hasher: passwords.PasswordHasher | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The auth app. Raises ConfigError (naming the key) when the keys or mailer are unusable,
    before anything listens. Tests pass their own mailer, a cheaper hasher or a clock."""
    backends = composition.Backends(cfg)  # a choice it cannot honour stops us here
    chosen_mailer = mailer or backends.mailer()
    try:
        key_ring = keys.KeyRing.load_or_create(cfg.jwt_keys_dir, active_kid=cfg.jwt_active_kid)
    except (keys.KeyFolderError, OSError) as exc:
        key = "jwt_active_kid" if cfg.jwt_active_kid else "jwt_keys_dir"
        raise config.ConfigError(key, str(exc)) from None
    now = clock or (lambda: datetime.now(UTC))
    hasher = password_hasher or passwords.PasswordHasher()
    database: list[Database] = []  # filled by the lifespan; read by the readiness probe

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = await Database.connect(
            cfg.pg_dsn, service="auth", min_size=cfg.pg_pool_min, max_size=cfg.pg_pool_max
        )
        database.append(db)
        store = accounts.Accounts(db)
        sender = mail_sender.MailSender(
            mail_queue.MailQueue(db), chosen_mailer, policy=_queue_policy(cfg), clock=now
        )
        lease = await worker_lease.WorkerIdLease.acquire(
            pg_worker_ids.PostgresWorkerIdLeases(db), service="auth"
        )
        leases.append(lease)
        app.state.auth = AuthContext(
            config=cfg,
            accounts=store,
            keys=key_ring,
            passwords=hasher,
            mail_sender=sender,
            ids=lease.generator,
            limiter=limits.RateLimiter(store, clock=now),
            limits=limits.Limits.from_config(cfg),
            clock=now,
        )
        maintenance = asyncio.create_task(_maintain(store, key_ring, clock=now))
        sending = asyncio.create_task(sender.run())
        try:
            yield
        finally:
            for task in (sending, maintenance):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await lease.release()
            await db.close()

    async def database_reachable() -> None:
        if not database:
            raise RuntimeError("database pool not open yet")
        await database[0].ping()

    leases: list[worker_lease.WorkerIdLease] = []  # filled by the lifespan

    async def worker_id_leased() -> None:
        if not leases:
            raise RuntimeError("not started yet")
        leases[0].check()

    app = http.create_app(
        service="auth",
        title="GoChat auth",
        max_body_bytes=MAX_BODY_BYTES,
        lifespan=lifespan,
        readiness_checks=[("database", database_reachable), ("worker_id", worker_id_leased)],
    )
    for module in (accounts_routes, session_routes, password_routes, jwks_routes):
        app.include_router(module.router)
    return app


async def _maintain(
    store: accounts.Accounts, key_ring: keys.KeyRing, *, clock: Callable[[], datetime]
) -> None:
    while True:
        await asyncio.sleep(MAINTENANCE_INTERVAL_SECONDS)
        try:
            key_ring.reload()
            cutoff = clock() - KEEP_SPENT_ROWS
            async with store.transaction("purge_spent_rows") as tx:
                await tx.purge_rate_limit_hits(before=cutoff)
                await tx.purge_mail_tokens(before=cutoff)
                await tx.purge_refresh_tokens(before=cutoff)
                await tx.purge_failed_mail(before=clock() - KEEP_FAILED_MAIL)
        except Exception:  # a failed round is retried next interval; the service stays up
            log.exception("auth maintenance failed")
