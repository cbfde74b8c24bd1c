"""`gochat migrate`: versioned, idempotent, transactional, safe to run concurrently."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from gochat.adapters.postgres import migrations


async def _versions(dsn: str) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        return [
            r["version"]
            for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        ]
    finally:
        await conn.close()


async def test_apply_is_idempotent(pg_database: str) -> None:
    directory = migrations.default_directory()
    first = await migrations.apply(pg_database, directory)
    assert first == [m.version for m in migrations.load(directory)]
    assert await migrations.apply(pg_database, directory) == []
    assert await _versions(pg_database) == first


async def test_concurrent_runners_take_turns(pg_database: str) -> None:
    directory = migrations.default_directory()
    results = await asyncio.gather(*[migrations.apply(pg_database, directory) for _ in range(4)])
    applied = [versions for versions in results if versions]
    assert len(applied) == 1, "exactly one runner applies; the others find nothing to do"
    assert await _versions(pg_database) == applied[0]


async def test_a_failing_migration_rolls_back_and_stops(pg_database: str, tmp_path: Path) -> None:
    shutil.copy(migrations.default_directory() / "0001_initial.sql", tmp_path)
    (tmp_path / "0002_broken.sql").write_text("CREATE TABLE ok_table (id int);\nSELEC oops;\n")
    with pytest.raises(asyncpg.PostgresSyntaxError):
        await migrations.apply(pg_database, tmp_path)
    assert await _versions(pg_database) == [1]
    conn = await asyncpg.connect(pg_database)
    try:
        assert await conn.fetchval("SELECT to_regclass('ok_table')") is None
    finally:
        await conn.close()


async def test_an_edited_applied_migration_is_refused(pg_database: str, tmp_path: Path) -> None:
    shutil.copy(migrations.default_directory() / "0001_initial.sql", tmp_path)
    await migrations.apply(pg_database, tmp_path)
    with (tmp_path / "0001_initial.sql").open("a") as file:
        file.write("\n-- edited\n")
    with pytest.raises(migrations.MigrationError, match="changed after it was applied"):
        await migrations.apply(pg_database, tmp_path)


def test_badly_named_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "add_things.sql").write_text("SELECT 1;")
    with pytest.raises(migrations.MigrationError, match=r"NNNN_name\.sql"):
        migrations.load(tmp_path)


def test_the_command_applies_and_reports(pg_database: str) -> None:
    env = {**os.environ, "GOCHAT_PG_DSN": pg_database}
    env.pop("GOCHAT_CONFIG", None)
    first = subprocess.run(
        [sys.executable, "-m", "gochat", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert first.returncode == 0, first.stderr
    assert "applied migration 0001_initial" in first.stderr
    again = subprocess.run(
        [sys.executable, "-m", "gochat", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0 and "applied migration" not in again.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "gochat", "migrate"],
        env={**env, "GOCHAT_PG_DSN": "postgresql://nobody@127.0.0.1:1/x"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 1 and "migration failed" in bad.stderr
