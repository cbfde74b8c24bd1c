"""Snowflake worker ids are leased from PostgreSQL: no two live processes ever share one."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from gochat.adapters.postgres import worker_ids
from gochat.adapters.postgres.database import Database
from gochat.api.app import build_app
from gochat.core import config, ids, worker_lease
from gochat.embedded import process
from tests.fixtures import accounts

# One process of a service: lease an id, say which, hold it until stdin closes, release it.
HOLD_A_LEASE = """
import asyncio, sys
from gochat.adapters.postgres import worker_ids
from gochat.adapters.postgres.database import Database
from gochat.core import worker_lease

async def main() -> None:
    db = await Database.connect(sys.argv[1], service="test", min_size=1, max_size=1)
    lease = await worker_lease.WorkerIdLease.acquire(
        worker_ids.PostgresWorkerIdLeases(db), service="test"
    )
    print(lease.worker_id, lease.generator.next_id(), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await lease.release()
    await db.close()

asyncio.run(main())
"""


@pytest.fixture
async def leases(migrated_database: str) -> AsyncIterator[worker_ids.PostgresWorkerIdLeases]:
    db = await Database.connect(migrated_database, service="test", min_size=1, max_size=4)
    try:
        yield worker_ids.PostgresWorkerIdLeases(db)
    finally:
        await db.close()


async def _holders(dsn: str) -> dict[int, str]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT worker_id, holder FROM worker_id_leases WHERE expires_at > now()"
        )
    finally:
        await connection.close()
    return {row["worker_id"]: row["holder"] for row in rows}


async def _lease_all_but(dsn: str, free: list[int], *, expired_ago: float = 1.0) -> None:
    """Every id held by a live process, except `free`, whose leases ran out `expired_ago`."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "UPDATE worker_id_leases SET holder = 'other:' || worker_id,"
            " expires_at = CASE WHEN worker_id = ANY($1::int[])"
            " THEN now() - make_interval(secs => $2) ELSE now() + interval '1 hour' END",
            free,
            expired_ago,
        )
    finally:
        await connection.close()


async def test_allocators_starting_at_once_lease_distinct_worker_ids(
    migrated_database: str,
) -> None:
    count = 64
    pools = [
        await Database.connect(migrated_database, service="test", min_size=1, max_size=1)
        for _ in range(count)
    ]
    try:
        held = await asyncio.gather(
            *(
                worker_lease.WorkerIdLease.acquire(
                    worker_ids.PostgresWorkerIdLeases(db), service=f"api-{n}"
                )
                for n, db in enumerate(pools)
            )
        )
        assert len({lease.worker_id for lease in held}) == count
        holders = await _holders(migrated_database)
        assert {holders[lease.worker_id] for lease in held} == {lease.holder for lease in held}
        await asyncio.gather(*(lease.release() for lease in held))
        assert await _holders(migrated_database) == {}
    finally:
        await asyncio.gather(*(db.close() for db in pools))


def test_processes_started_at_once_lease_distinct_worker_ids(migrated_database: str) -> None:
    count = 8  # real processes cost seconds each on a busy machine; the 64 allocators above race
    children = [
        subprocess.Popen(
            [sys.executable, "-c", HOLD_A_LEASE, migrated_database],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        # Each holds its lease until all have answered: they are all alive at once.
        answers = [child.stdout.readline().split() for child in children if child.stdout]
        assert all(len(answer) == 2 for answer in answers), answers
        worker_of = [int(worker) for worker, _ in answers]
        assert len(set(worker_of)) == count
        assert [ids.SnowflakeGenerator(w).worker_id for w in worker_of] == worker_of
        assert {(int(first) >> ids.SEQUENCE_BITS) & ids.MAX_WORKER_ID for _, first in answers} == (
            set(worker_of)
        )
    finally:
        for child in children:
            if child.stdin:
                child.stdin.close()
        codes = [child.wait(timeout=60) for child in children]
    assert codes == [0] * count
    assert asyncio.run(_holders(migrated_database)) == {}


async def test_an_expired_lease_is_reused_and_a_live_one_never_is(
    leases: worker_ids.PostgresWorkerIdLeases, migrated_database: str
) -> None:
    await _lease_all_but(migrated_database, [7, 300, 500], expired_ago=3600)
    connection = await asyncpg.connect(migrated_database)
    await connection.execute(
        "UPDATE worker_id_leases SET expires_at = now() - make_interval(secs => $1)"
        " WHERE worker_id = $2",
        worker_ids.REUSE_AFTER_SECONDS + 1,
        7,
    )
    await connection.close()
    released = await leases.claim(holder="short-lived", seconds=30, wanted=500)
    assert released == 500
    await leases.release(worker_id=500, holder="short-lived")
    # The id expired longest ago goes first, then the other expired one; the id released a
    # moment ago waits out the clock-skew margin, and live ones are never taken.
    assert await leases.claim(holder="new-1", seconds=30) == 300
    assert await leases.claim(holder="new-2", seconds=30) == 7
    assert await leases.claim(holder="new-3", seconds=30) is None
    assert await leases.claim(holder="new-3", seconds=30, wanted=5) is None
    assert await leases.claim(holder="new-3", seconds=30, wanted=500) is None
    holders = await _holders(migrated_database)
    assert (holders[7], holders[300], holders[5]) == ("new-2", "new-1", "other:5")
    assert 500 not in holders


async def test_a_service_refuses_to_start_when_every_worker_id_is_leased(
    leases: worker_ids.PostgresWorkerIdLeases, migrated_database: str
) -> None:
    await _lease_all_but(migrated_database, [])
    with pytest.raises(worker_lease.NoWorkerIdFree, match="all 1024 snowflake worker ids"):
        await worker_lease.WorkerIdLease.acquire(leases, service="api")
    with pytest.raises(worker_lease.NoWorkerIdFree, match="snowflake_worker_id 9 is leased"):
        await worker_lease.WorkerIdLease.acquire(leases, service="api", wanted=9)


async def test_a_lease_taken_over_after_it_ran_out_is_replaced_on_renewal(
    leases: worker_ids.PostgresWorkerIdLeases, migrated_database: str
) -> None:
    lease = await worker_lease.WorkerIdLease.acquire(leases, service="api", wanted=3)
    try:
        await lease.renew()  # still ours: extended
        assert lease.worker_id == 3
        connection = await asyncpg.connect(migrated_database)
        await connection.execute(
            "UPDATE worker_id_leases SET holder = 'successor', expires_at = now() + interval '1h'"
            " WHERE worker_id = 3"
        )
        await connection.close()
        await lease.renew()
        assert lease.worker_id != 3
        worker_of_next_id = (lease.generator.next_id() >> ids.SEQUENCE_BITS) & ids.MAX_WORKER_ID
        assert worker_of_next_id == lease.worker_id
        holders = await _holders(migrated_database)
        assert (holders[3], holders[lease.worker_id]) == ("successor", lease.holder)
    finally:
        await lease.release()


async def test_api_and_auth_hold_a_lease_while_they_run(
    migrated_database: str, nats_server: object, tmp_path: Path
) -> None:
    api_config = config.ApiConfig(
        pg_dsn=migrated_database,
        pg_pool_min=0,
        pg_pool_max=3,
        nats_url=nats_server.url,  # type: ignore[attr-defined]
        jwks_url="http://127.0.0.1:9/unused",
    )
    api = build_app(api_config)
    auth = accounts.serve_auth(accounts.auth_config(migrated_database, tmp_path))
    async with auth, api.router.lifespan_context(api):
        holders = await _holders(migrated_database)
        assert sorted(holder.split(":")[0] for holder in holders.values()) == ["api", "auth"]
        assert api.state.ctx.ids.worker_id in holders
    assert await _holders(migrated_database) == {}


async def test_a_service_started_with_every_worker_id_leased_exits_saying_so(
    migrated_database: str, tmp_path: Path
) -> None:
    await _lease_all_but(migrated_database, [])
    env = {
        **os.environ,
        "GOCHAT_PG_DSN": migrated_database,
        "GOCHAT_PORT": str(process.free_port()),
        "GOCHAT_JWT_KEYS_DIR": str(tmp_path / "jwt"),
        "GOCHAT_MAIL_OUTBOX_DIR": str(tmp_path / "mail"),
        "GOCHAT_CONFIG": "",
    }
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "gochat", "auth"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "all 1024 snowflake worker ids are leased by live processes" in result.stderr


async def test_two_services_whose_host_and_pid_collide_still_get_distinct_worker_ids(
    migrated_database: str, tmp_path: Path
) -> None:
    """Every pod's main process is pid 1, so crc32(host:pid) & 1023 gave two pods one worker
    id with odds of 1 in 1024 per pair; two services in one process are the certain case."""
    first = accounts.serve_auth(accounts.auth_config(migrated_database, tmp_path / "a"))
    second = accounts.serve_auth(accounts.auth_config(migrated_database, tmp_path / "b"))
    async with first as one, second as other:
        issued = [service.app.state.auth.ids.next_id() for service in (one, other)]
    workers = {(snowflake >> ids.SEQUENCE_BITS) & ids.MAX_WORKER_ID for snowflake in issued}
    assert len(workers) == 2
