"""`gochat migrate`: apply the PostgreSQL migrations (db/pgmigrations/), then, when the config
says `message_store: cassandra`, the CQL migrations (db/migrations/) into the configured
keyspace, created with `cassandra_replication`; when it says `search_backend: opensearch`, the
index template, the first versioned index and its read and write aliases (schema.py in
adapters/opensearch; a later template change reaches the next `gochat search reindex`). The
operator runs this as a versioned Job; the runners are idempotent and take a lock (template and
aliases are put idempotently), so concurrent Jobs take turns.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

from gochat import composition
from gochat.adapters.cassandra import migrations as cql_migrations
from gochat.adapters.cassandra import session as cassandra_session
from gochat.adapters.postgres import migrations
from gochat.core import config, logs

log = logging.getLogger("gochat.migrate")


def main(argv: list[str]) -> int:
    if argv:
        print(
            "usage: gochat migrate   (configured by GOCHAT_PG_DSN / GOCHAT_CONFIG)", file=sys.stderr
        )
        return 2
    try:
        cfg = config.load_config(config.MigrateConfig, service="migrate")
        cassandra = _cassandra_settings(cfg)
    except config.ConfigError as exc:
        print(f"gochat migrate: {exc}", file=sys.stderr)
        return 2
    logs.setup_logging(service="migrate", level=cfg.log_level, fmt=cfg.log_format)
    directory = os.environ.get("GOCHAT_MIGRATIONS_DIR")
    try:
        path = Path(directory) if directory else migrations.default_directory()
        applied = asyncio.run(migrations.apply(cfg.pg_dsn, path))
    except (migrations.MigrationError, OSError) as exc:
        log.error("migration failed: %s", exc)
        return 1
    log.info("migrations up to date", extra={"applied": applied})
    if cfg.search_backend == "opensearch":
        try:
            index = asyncio.run(_opensearch(cfg))
        except Exception as exc:  # transport and HTTP errors alike: say what failed, exit 1
            log.error("OpenSearch index setup failed: %r", exc)
            return 1
        log.info("search index up to date", extra={"index": index})
    if cassandra is None:
        return 0
    cql_directory = os.environ.get("GOCHAT_CQL_MIGRATIONS_DIR")
    try:
        cql_path = Path(cql_directory) if cql_directory else cql_migrations.default_directory()
        count = asyncio.run(
            cql_migrations.apply(cassandra, cql_path, replication=cfg.cassandra_replication)
        )
    except Exception as exc:  # the driver's errors have no common base worth naming
        log.error("CQL migration failed: %s", exc)
        return 1
    log.info("CQL migrations up to date", extra={"applied": count})
    return 0


async def _opensearch(cfg: config.MigrateConfig) -> str:
    from gochat.adapters.opensearch import make_client, schema

    client = make_client(
        cfg.opensearch_url or "", username=cfg.opensearch_username, password=cfg.opensearch_password
    )
    try:
        return await schema.ensure(client, schema.Names(cfg.opensearch_index_prefix))
    finally:
        await client.close()


def _cassandra_settings(cfg: config.MigrateConfig) -> cassandra_session.Settings | None:
    composition.check(cfg)  # cassandra needs its hosts and local_dc: named if missing
    if cfg.message_store != "cassandra":
        return None
    return composition.cassandra_settings(cfg)
