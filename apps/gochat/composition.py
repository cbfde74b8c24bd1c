"""The composition root: the one module that turns config choices into adapters, for every
service (as Mattermost wires its store layers in one place).

`check(cfg)` runs before anything connects or listens: a choice this build has no adapter for,
or a backend missing a required key, raises ConfigError naming the key, which the service
prints as one line before exiting with status 2. `Backends` then opens what the choices need
inside the service's lifespan and contributes one `/readyz` check per backend it opened, so a
service reports every backend it uses. Adding a backend is one entry in a registry below, not
a branch in a service.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from pydantic import BaseModel

from gochat import ports
from gochat.adapters import mail_retry
from gochat.adapters.cassandra import messages as cassandra_messages
from gochat.adapters.cassandra import session as cassandra_session
from gochat.adapters.localfs import blob_server, mail_outbox
from gochat.adapters.localfs import blobs as localfs_blobs
from gochat.adapters.opensearch import make_client as opensearch_client
from gochat.adapters.opensearch import schema as opensearch_schema
from gochat.adapters.opensearch import search as opensearch_search
from gochat.adapters.postgres import database
from gochat.adapters.postgres import messages as pg_messages
from gochat.adapters.postgres import search as pg_search
from gochat.adapters.s3 import blobs as s3_blobs
from gochat.adapters.sendpulse import mailer as sendpulse_mailer
from gochat.adapters.smtp import mailer as smtp_mailer
from gochat.core import config

ReadinessCheck = Callable[[], Awaitable[None]]


class Backends:
    """The adapters one service process opened, their readiness checks and their closing."""

    def __init__(self, cfg: BaseModel) -> None:
        check(cfg)
        self.cfg = cfg
        self._ready: dict[str, ReadinessCheck] = {}
        self._closers: list[Callable[[], Awaitable[None]]] = []
        # ASGI middleware a backend needs in front of the service's app (outermost last).
        self.middleware: list[tuple[Any, dict[str, Any]]] = []

    def readiness_checks(self) -> list[tuple[str, ReadinessCheck]]:
        """One check per backend beyond PostgreSQL this config uses; each fails until the
        adapter that uses it has been opened."""
        return [(name, self._check(name)) for name in backends_used(self.cfg)]

    def opened(
        self, name: str, *, ready: ReadinessCheck, close: Callable[[], Awaitable[None]]
    ) -> None:
        """Called by a factory for each connection it opened."""
        self._ready[name] = ready
        self._closers.append(close)

    def on_close(self, close: Callable[[], Awaitable[None]]) -> None:
        """Called by a factory for work it started that must stop with the service."""
        self._closers.append(close)

    def _check(self, name: str) -> ReadinessCheck:
        async def ready() -> None:
            opened = self._ready.get(name)
            if opened is None:
                raise RuntimeError(f"{name} not connected yet")
            await opened()

        return ready

    async def message_store(self, db: database.Database) -> ports.MessageStore:
        cfg = _as(self.cfg, config.ApiConfig)
        return await MESSAGE_STORES[cfg.message_store](cfg, db, self)

    def search_index(self, db: database.Database) -> ports.SearchIndex:
        cfg = _as(self.cfg, (config.ApiConfig, config.IndexerConfig))
        return SEARCH_INDEXES[cfg.search_backend](cfg, db, self)

    def blob_store(self) -> ports.BlobStore:
        cfg = _as(self.cfg, config.ApiConfig)
        return BLOB_STORES[cfg.blob_store](cfg, self)

    def mailer(self) -> ports.Mailer:
        cfg = _as(self.cfg, config.AuthConfig)
        return MAILERS[cfg.mailer](cfg)

    async def aclose(self) -> None:
        """Close what was opened, last first."""
        while self._closers:
            await self._closers.pop()()


async def _postgres_messages(
    cfg: config.ApiConfig, db: database.Database, backends: Backends
) -> ports.MessageStore:
    return pg_messages.PostgresMessageStore(db)


async def _cassandra_messages(
    cfg: config.ApiConfig, db: database.Database, backends: Backends
) -> ports.MessageStore:
    session = await cassandra_session.CassandraSession.connect(
        cassandra_settings(cfg), service="api"
    )
    backends.opened("cassandra", ready=session.ping, close=session.close)
    store = await cassandra_messages.CassandraMessageStore.open(session, relational_db=db)
    # Completes the sends of API processes that died between the two stores.
    sweep = asyncio.create_task(store.repair_forever(), name="message-intent-repair")
    backends.on_close(_cancel(sweep))
    return store


def _cancel(task: asyncio.Task[None]) -> Callable[[], Awaitable[None]]:
    async def cancel() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return cancel


MESSAGE_STORES: dict[
    str,
    Callable[[config.ApiConfig, database.Database, Backends], Awaitable[ports.MessageStore]],
] = {
    "postgres": _postgres_messages,
    "cassandra": _cassandra_messages,
}


def _opensearch_index(cfg: Any, db: database.Database, backends: Backends) -> ports.SearchIndex:
    client = opensearch_client(
        cfg.opensearch_url, username=cfg.opensearch_username, password=cfg.opensearch_password
    )
    index = opensearch_search.OpenSearchSearchIndex(
        client, opensearch_schema.Names(cfg.opensearch_index_prefix)
    )
    backends.opened("opensearch", ready=index.ping, close=client.close)
    return index


SEARCH_INDEXES: dict[str, Callable[[Any, database.Database, Backends], ports.SearchIndex]] = {
    "postgres": lambda cfg, db, backends: pg_search.PostgresSearchIndex(db),
    "opensearch": _opensearch_index,
}


def _localfs_blobs(cfg: config.ApiConfig, backends: Backends) -> ports.BlobStore:
    store = localfs_blobs.LocalBlobStore(
        cfg.blob_dir, base_url=cfg.blob_public_url, signing_key=cfg.blob_signing_key
    )
    # The API serves the local store's signed URLs itself, ahead of its body limit (uploads
    # are larger than any API request): its own middleware, outside the others.
    backends.middleware.append((blob_server.FileRoutes, {"store": store}))
    return store


def _s3_blobs(cfg: config.ApiConfig, backends: Backends) -> ports.BlobStore:
    store = s3_blobs.S3BlobStore(
        s3_blobs.Settings(
            bucket=cfg.s3_bucket or "",  # required: check() refuses s3 without it
            endpoint=cfg.s3_endpoint,
            public_endpoint=cfg.s3_public_endpoint,
            region=cfg.s3_region,
            access_key_id=cfg.s3_access_key_id,
            secret_access_key=cfg.s3_secret_access_key,
        )
    )
    backends.opened("s3", ready=store.ping, close=store.close)
    return store


BLOB_STORES: dict[str, Callable[[config.ApiConfig, Backends], ports.BlobStore]] = {
    "localfs": _localfs_blobs,
    "s3": _s3_blobs,
}


def check(cfg: BaseModel) -> None:
    """Raise ConfigError (naming the key) for the first choice this build cannot honour, or a
    key a choice needs that is not set. The config models' Literal types already refuse words
    no build knows; this refuses the ones this build has no adapter for."""
    for key, implemented in _registries().items():
        if key not in type(cfg).model_fields:
            continue
        value = getattr(cfg, key)
        if value not in implemented:
            available = ", ".join(sorted(implemented))
            raise config.ConfigError(
                key, f"{value!r} is not implemented in this build (available: {available})"
            )
        for required in REQUIRED.get((key, value), ()):
            if not getattr(cfg, required):
                raise config.ConfigError(required, f"required when {key} is {value}")


def backends_used(cfg: BaseModel) -> list[str]:
    """The backends beyond PostgreSQL this config's choices need, as /readyz names them."""
    used = []
    for (key, value), backend in _BACKEND_OF.items():
        if key in type(cfg).model_fields and getattr(cfg, key) == value:
            used.append(backend)
    return used


# Keys a choice cannot do without.
REQUIRED: dict[tuple[str, str], tuple[str, ...]] = {
    ("message_store", "cassandra"): ("cassandra_hosts", "cassandra_local_dc"),
    ("search_backend", "opensearch"): ("opensearch_url",),
    ("mailer", "sendpulse"): ("sendpulse_client_id", "sendpulse_client_secret"),
    ("blob_store", "s3"): ("s3_bucket",),
}
# The backend (as /readyz names it) a choice adds to the PostgreSQL every service uses.
_BACKEND_OF: dict[tuple[str, str], str] = {
    ("message_store", "cassandra"): "cassandra",
    ("search_backend", "opensearch"): "opensearch",
    ("blob_store", "s3"): "s3",
}


def _registries() -> dict[str, Collection[str]]:
    return {
        "message_store": MESSAGE_STORES,
        "search_backend": SEARCH_INDEXES,
        "blob_store": BLOB_STORES,
        "mailer": MAILERS,
    }


def cassandra_settings(cfg: config.CassandraSettings) -> cassandra_session.Settings:
    return cassandra_session.Settings(
        hosts=tuple(cfg.cassandra_hosts),
        keyspace=cfg.cassandra_keyspace,
        local_dc=cfg.cassandra_local_dc or "",
        consistency=cfg.cassandra_consistency,
        request_timeout=cfg.cassandra_request_timeout_seconds,
        username=cfg.cassandra_username,
        password=cfg.cassandra_password,
    )


def _outbox(cfg: config.AuthConfig) -> ports.Mailer:
    return mail_outbox.OutboxMailer(cfg.mail_outbox_dir, sender=cfg.mail_from)


def _smtp(cfg: config.AuthConfig) -> ports.Mailer:
    return smtp_mailer.SmtpMailer(
        smtp_mailer.SmtpSettings(
            host=cfg.smtp_host,
            port=cfg.smtp_port,
            sender=cfg.mail_from,
            username=cfg.smtp_username,
            password=cfg.smtp_password,
            security=cfg.smtp_security,
            ca_file=cfg.smtp_ca_file,
            timeout_seconds=cfg.smtp_timeout_seconds,
            backoff=mail_retry.Backoff(attempts=cfg.mail_send_attempts),
        )
    )


def _sendpulse(cfg: config.AuthConfig) -> ports.Mailer:
    # The client id and secret are checked by check() (REQUIRED).
    if missing := sendpulse_mailer.kinds_without_template(cfg.sendpulse_template_ids):
        raise config.ConfigError(
            "sendpulse_template_ids", f"no template id for {', '.join(missing)}"
        )
    return sendpulse_mailer.SendPulseMailer(
        sendpulse_mailer.SendPulseSettings(
            client_id=cfg.sendpulse_client_id or "",
            client_secret=cfg.sendpulse_client_secret or "",
            sender=cfg.mail_from,
            template_ids=cfg.sendpulse_template_ids,
            api_url=cfg.sendpulse_api_url,
            backoff=mail_retry.Backoff(attempts=cfg.mail_send_attempts),
        )
    )


MAILERS: dict[str, Callable[[config.AuthConfig], ports.Mailer]] = {
    "outbox": _outbox,
    "smtp": _smtp,
    "sendpulse": _sendpulse,
}


def _as(cfg: BaseModel, model: type[Any] | tuple[type[Any], ...]) -> Any:
    if not isinstance(cfg, model):
        raise TypeError(f"{type(cfg).__name__} does not configure this adapter")
    return cfg
