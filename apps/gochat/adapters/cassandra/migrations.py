"""Versioned CQL migrations from `db/migrations/NNNN_name.cql`.

The runner creates the keyspace (replication from config), then applies every file not yet
recorded in `schema_migrations`, statement by statement, recording each file with its checksum;
an applied file whose checksum changed is an error (migrations are append-only). Two runners
never collide: each first claims the row of `migration_lock` with a lightweight transaction
(`INSERT ... IF NOT EXISTS USING TTL`), waits while another runner holds it, and releases it
only if it is still its own. The TTL frees the lock of a runner that died.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
import uuid
from pathlib import Path

from gochat.adapters import migration_files
from gochat.adapters.cassandra import session as cassandra_session

log = logging.getLogger(__name__)
LOCK_TTL_SECONDS = 600
LOCK_NAME = "cql"


MigrationError = migration_files.MigrationError
Migration = migration_files.Migration


def statements(migration: Migration) -> list[str]:
    """The file's statements: `;` ends one at the end of a line; `--` lines are comments."""
    lines = [line for line in migration.text.splitlines() if not line.lstrip().startswith("--")]
    parts = re.split(r";\s*$", "\n".join(lines), flags=re.MULTILINE)
    return [part.strip() for part in parts if part.strip()]


def default_directory() -> Path:
    return migration_files.find_directory("db/migrations", env_var="GOCHAT_CQL_MIGRATIONS_DIR")


def load(directory: Path) -> list[Migration]:
    return migration_files.load(directory, extension="cql")


def replication_map(replication: str) -> str:
    """`datacenter1:3,dc2:3` -> the CQL map of NetworkTopologyStrategy with those factors."""
    pairs = [pair.split(":") for pair in replication.split(",")]
    factors = ", ".join(f"'{dc.strip()}': {int(factor)}" for dc, factor in pairs)
    return f"{{'class': 'NetworkTopologyStrategy', {factors}}}"


async def apply(
    settings: cassandra_session.Settings,
    directory: Path,
    *,
    replication: str,
    lock_wait_seconds: float = 300.0,
) -> int:
    """Create the keyspace if needed and apply pending files; return how many were applied.
    Raises MigrationError when another runner keeps the lock past `lock_wait_seconds`."""
    migrations = load(directory)
    keyspace = settings.keyspace
    db = await cassandra_session.CassandraSession.connect(
        dataclasses.replace(settings, keyspace=""), service="migrate"
    )
    try:
        await db.run(
            "create_keyspace",
            f"CREATE KEYSPACE IF NOT EXISTS {keyspace} "
            f"WITH replication = {replication_map(replication)}",
        )
        await db.run("use_keyspace", f"USE {keyspace}")
        await db.run(
            "create_migration_tables",
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version int PRIMARY KEY, name text, checksum text, applied_at timestamp)""",
        )
        await db.run(
            "create_migration_tables",
            """CREATE TABLE IF NOT EXISTS migration_lock (
                   name text PRIMARY KEY, owner uuid, since timestamp)""",
        )
        owner = uuid.uuid4()
        await _acquire(db, owner, wait=lock_wait_seconds)
        try:
            return await _apply_pending(db, migrations)
        finally:
            await db.run(
                "release_migration_lock",
                "DELETE FROM migration_lock WHERE name = %s IF owner = %s",
                (LOCK_NAME, owner),
            )
    finally:
        await db.close()


async def _acquire(
    db: cassandra_session.CassandraSession, owner: uuid.UUID, *, wait: float
) -> None:
    deadline = time.monotonic() + wait
    while True:
        [row] = await db.run(
            "acquire_migration_lock",
            f"""INSERT INTO migration_lock (name, owner, since)
                VALUES (%s, %s, toTimestamp(now())) IF NOT EXISTS USING TTL {LOCK_TTL_SECONDS}""",
            (LOCK_NAME, owner),
        )
        if row["[applied]"]:
            return
        if time.monotonic() >= deadline:
            raise MigrationError(
                f"another migration runner holds the lock (owner {row['owner']}, since "
                f"{row['since']}); it expires {LOCK_TTL_SECONDS} s after it was taken"
            )
        log.info("waiting for another migration runner", extra={"owner": str(row["owner"])})
        await asyncio.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


async def _apply_pending(
    db: cassandra_session.CassandraSession, migrations: list[Migration]
) -> int:
    rows = await db.run("applied_migrations", "SELECT version, checksum FROM schema_migrations")
    applied = {row["version"]: row["checksum"] for row in rows}
    count = 0
    for migration in migrations:
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                raise MigrationError(
                    f"CQL migration {migration.version:04d}_{migration.name} changed after it "
                    "was applied; add a new migration instead"
                )
            continue
        for statement in statements(migration):
            await db.run(f"migration_{migration.version:04d}", statement)
        await db.run(
            "record_migration",
            """INSERT INTO schema_migrations (version, name, checksum, applied_at)
               VALUES (%s, %s, %s, toTimestamp(now()))""",
            (migration.version, migration.name, migration.checksum),
        )
        log.info("applied CQL migration", extra={"version": migration.version})
        count += 1
    return count
