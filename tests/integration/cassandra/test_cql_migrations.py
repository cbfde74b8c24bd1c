"""CQL migrations: `gochat migrate` creates the keyspace with the configured replication and
applies db/migrations/ once; concurrent runners take turns on an LWT lock; an applied file that
changed is refused."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gochat.adapters.cassandra import migrations
from gochat.adapters.cassandra import session as cassandra_session
from tests.fixtures import cassandra as cassandra_fixtures

TABLES = {"messages", "channel_buckets", "message_nonces", "channel_pins", "reactions"}


@pytest.fixture
async def fresh(
    cassandra_server: cassandra_fixtures.CassandraServer,
) -> AsyncIterator[cassandra_session.Settings]:
    """Settings naming a keyspace that does not exist yet (dropped afterwards)."""
    settings = cassandra_server.settings(cassandra_fixtures.new_keyspace_name())
    yield settings
    db = await cassandra_session.CassandraSession.connect(
        dataclasses.replace(settings, keyspace=""), service="test"
    )
    try:
        await db.run("drop_keyspace", f"DROP KEYSPACE IF EXISTS {settings.keyspace}")
    finally:
        await db.close()


async def query(settings: cassandra_session.Settings, cql: str, *args: object) -> list[dict]:  # type: ignore[type-arg]
    db = await cassandra_session.CassandraSession.connect(
        dataclasses.replace(settings, keyspace=""), service="test"
    )
    try:
        return await db.run("query", cql, args)
    finally:
        await db.close()


async def tables_of(settings: cassandra_session.Settings) -> set[str]:
    rows = await query(
        settings,
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s",
        settings.keyspace,
    )
    return {row["table_name"] for row in rows}


def test_gochat_migrate_creates_the_keyspace_with_the_configured_replication_once(
    migrated_database: str, fresh: cassandra_session.Settings, tmp_path: Path
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GOCHAT_")},
        "GOCHAT_PG_DSN": migrated_database,
        "GOCHAT_MESSAGE_STORE": "cassandra",
        "GOCHAT_CASSANDRA_HOSTS": ",".join(fresh.hosts),
        "GOCHAT_CASSANDRA_LOCAL_DC": fresh.local_dc,
        "GOCHAT_CASSANDRA_KEYSPACE": fresh.keyspace,
        "GOCHAT_CASSANDRA_CONSISTENCY": "LOCAL_ONE",
        "GOCHAT_CASSANDRA_REPLICATION": f"{fresh.local_dc}:1",
        "GOCHAT_LOG_FORMAT": "text",
    }
    for _run in ("first", "again"):
        finished = subprocess.run(
            [sys.executable, "-m", "gochat", "migrate"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert finished.returncode == 0, finished.stderr
        assert "CQL migrations up to date" in finished.stderr

    [keyspace] = asyncio.run(
        query(
            fresh,
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s",
            fresh.keyspace,
        )
    )
    assert keyspace["replication"] == {
        "class": "org.apache.cassandra.locator.NetworkTopologyStrategy",
        fresh.local_dc: "1",
    }
    assert asyncio.run(tables_of(fresh)) >= TABLES
    recorded = asyncio.run(query(fresh, f"SELECT version FROM {fresh.keyspace}.schema_migrations"))
    expected = [m.version for m in migrations.load(migrations.default_directory())]
    assert sorted(row["version"] for row in recorded) == expected


async def test_concurrent_runners_apply_each_file_once(fresh: cassandra_session.Settings) -> None:
    directory = migrations.default_directory()
    results = await asyncio.gather(
        *(migrations.apply(fresh, directory, replication=f"{fresh.local_dc}:1") for _ in range(3))
    )
    assert sorted(results) == [0, 0, len(migrations.load(directory))]
    assert await tables_of(fresh) >= TABLES


async def test_a_runner_waits_for_the_lock_and_gives_up_naming_the_holder(
    fresh: cassandra_session.Settings,
) -> None:
    directory = migrations.default_directory()
    await migrations.apply(fresh, directory, replication=f"{fresh.local_dc}:1")
    holder = uuid.uuid4()
    await query(
        fresh,
        f"INSERT INTO {fresh.keyspace}.migration_lock (name, owner, since) "
        "VALUES (%s, %s, toTimestamp(now()))",
        migrations.LOCK_NAME,
        holder,
    )

    with pytest.raises(migrations.MigrationError, match=f"holds the lock \\(owner {holder}"):
        await migrations.apply(
            fresh, directory, replication=f"{fresh.local_dc}:1", lock_wait_seconds=0.5
        )

    await query(fresh, f"DELETE FROM {fresh.keyspace}.migration_lock WHERE name = %s", "cql")
    assert await migrations.apply(fresh, directory, replication=f"{fresh.local_dc}:1") == 0


async def test_an_applied_file_that_changed_is_refused(
    fresh: cassandra_session.Settings, tmp_path: Path
) -> None:
    directory = tmp_path / "cql"
    shutil.copytree(migrations.default_directory(), directory)
    await migrations.apply(fresh, directory, replication=f"{fresh.local_dc}:1")
    first = sorted(directory.glob("*.cql"))[0]
    first.write_text(first.read_text() + "\n-- edited after it ran\n")

    with pytest.raises(migrations.MigrationError, match="changed after it was applied"):
        await migrations.apply(fresh, directory, replication=f"{fresh.local_dc}:1")
    # The lock was released on the way out: a fixed directory applies at once.
    assert await migrations.apply(
        fresh, migrations.default_directory(), replication=f"{fresh.local_dc}:1",
        lock_wait_seconds=0,
    ) == 0  # fmt: skip


def test_a_statement_list_splits_on_semicolons_at_line_ends_and_drops_comments() -> None:
    migration = migrations.Migration(
        1, "x", "-- a comment; with a semicolon\nCREATE TABLE a (k int PRIMARY KEY);\n"
        "CREATE TABLE b (k text PRIMARY KEY)\n  WITH comment = 'x;y';\n",
    )  # fmt: skip
    assert migrations.statements(migration) == [
        "CREATE TABLE a (k int PRIMARY KEY)",
        "CREATE TABLE b (k text PRIMARY KEY)\n  WITH comment = 'x;y'",
    ]
