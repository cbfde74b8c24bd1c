"""Versioned SQL migrations from `db/pgmigrations/NNNN_name.sql`.

Each file runs in its own transaction and is recorded with its checksum; a session-level advisory
lock makes concurrent runners (two migration Jobs, a Job and `make dev`) take turns; a second run
applies nothing. An applied file whose checksum changed is an error: migrations are append-only.
"""

from __future__ import annotations

import logging
from pathlib import Path

import asyncpg

from gochat.adapters import migration_files

log = logging.getLogger(__name__)
ADVISORY_LOCK_KEY = 0x6F63686174  # "ochat": any constant shared by every runner


MigrationError = migration_files.MigrationError
Migration = migration_files.Migration


def default_directory() -> Path:
    return migration_files.find_directory("db/pgmigrations", env_var="GOCHAT_MIGRATIONS_DIR")


def load(directory: Path) -> list[Migration]:
    return migration_files.load(directory, extension="sql")


async def apply(dsn: str, directory: Path) -> list[int]:
    """Apply pending migrations; returns the versions applied by this call."""
    migrations = load(directory)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
        try:
            return await _apply_locked(conn, migrations)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
    finally:
        await conn.close()


async def _apply_locked(conn: asyncpg.Connection, migrations: list[Migration]) -> list[int]:
    await conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )
    done = {
        r["version"]: r["checksum"]
        for r in await conn.fetch("SELECT version, checksum FROM schema_migrations")
    }
    applied = []
    for migration in migrations:
        if migration.version in done:
            if done[migration.version] != migration.checksum:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name} changed after it was "
                    "applied; add a new migration instead"
                )
            continue
        async with conn.transaction():
            await conn.execute(migration.text)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
            )
        log.info("applied migration %04d_%s", migration.version, migration.name)
        applied.append(migration.version)
    return applied


async def current_version(conn: asyncpg.Connection) -> int:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations"))
