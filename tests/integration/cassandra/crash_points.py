"""Runs one change of the Cassandra message store in a child process that dies at a chosen
crash point (`os._exit`: no clean-up, no `finally`, no connection closed), for the tests of what
the repair sweep finishes (docs/data-plane.md).

The child runs PRELUDE, then the test's own body, which defines `async def main()`. PRELUDE
gives it the parsed arguments (`dsn`, `settings`, `point`, `job`: the test's JSON), `connect()`
(the PostgreSQL database and the Cassandra session), `killed()` (dies at once) and `die` (an
async stand-in for a step: the process dies where that step would run). `run_until_killed`
checks that the child died there: a child that finished, or failed otherwise (the crash point
was never reached), fails the test with its stderr."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from gochat.adapters.cassandra import messages as cassandra_messages
from gochat.adapters.cassandra import session as cassandra_session
from gochat.adapters.postgres import database
from gochat.core import events

REPO = Path(__file__).resolve().parents[3]
KILLED = 9  # the child's exit status when it died at its crash point
PRELUDE = f"""
import asyncio, json, os, sys
from datetime import datetime
from gochat.adapters.cassandra import messages, relational, session
from gochat.adapters.postgres import database
from gochat.core import events

dsn, point = sys.argv[1], sys.argv[3]
settings, job = json.loads(sys.argv[2]), json.loads(sys.argv[4])

def killed():
    os._exit({KILLED})

async def die(*args, **kwargs):
    killed()

async def connect():
    db = await database.Database.connect(dsn, service="test")
    cs = await session.CassandraSession.connect(session.Settings(**settings), service="test")
    return db, cs
"""


async def run_until_killed(
    body: str,
    *,
    point: str,
    job: Mapping[str, object],
    pg_database: str,
    cassandra_keyspace: cassandra_session.Settings,
) -> None:
    """Runs PRELUDE + `body` + `asyncio.run(main())` in a child process against the test's
    databases, and checks that it died at its crash point."""
    settings = dataclasses.asdict(cassandra_keyspace) | {"hosts": list(cassandra_keyspace.hosts)}
    script = PRELUDE + body + "\nasyncio.run(main())\n"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, pg_database, json.dumps(settings), point, json.dumps(job),
        cwd=REPO, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _, stderr = await asyncio.wait_for(child.communicate(), timeout=120)
    except TimeoutError:
        child.kill()
        await child.wait()
        raise
    assert child.returncode == KILLED, (
        f"the child exited {child.returncode}, not at crash point {point!r}:\n{stderr.decode()}"
    )


async def outbox_types(db: database.Database) -> list[str]:
    """The types of the events recorded for publishing, in order."""
    rows = await db.fetch("outbox", "SELECT payload FROM outbox ORDER BY seq")
    return [events.parse(bytes(row["payload"])).type for row in rows]


@pytest.fixture
async def store(
    message_db: database.Database,
    cassandra_keyspace: cassandra_session.Settings,
    cassandra_db: cassandra_session.CassandraSession,
) -> cassandra_messages.CassandraMessageStore:
    """The Cassandra store the tests check after the child died (the sweep runs on it)."""
    return await cassandra_messages.CassandraMessageStore.open(
        cassandra_db, relational_db=message_db
    )
