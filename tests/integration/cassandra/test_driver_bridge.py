"""The driver runs its own loop (libev) in a thread; results reach the awaiting coroutine on the
service's loop, errors raise there, and the driver's callbacks only hand over."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import prometheus_client
import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Cluster

from gochat.adapters.cassandra import session as cassandra_session


async def test_the_bundled_wheel_runs_the_libev_reactor(
    cassandra_db: cassandra_session.CassandraSession,
) -> None:
    assert Cluster.connection_class.__name__ == "LibevConnection"


async def test_a_failing_query_raises_in_the_coroutine_awaiting_it(
    cassandra_db: cassandra_session.CassandraSession,
) -> None:
    with pytest.raises(InvalidRequest, match="no_such_table"):
        await cassandra_db.run("broken", "SELECT * FROM system.no_such_table")
    # The session is still usable afterwards.
    assert await cassandra_db.run("ok", "SELECT release_version FROM system.local")


async def test_a_prepared_statement_the_server_refuses_raises_in_its_coroutine(
    cassandra_keyspace: cassandra_session.Settings,
    cassandra_db: cassandra_session.CassandraSession,
) -> None:
    ks = cassandra_keyspace.keyspace
    await cassandra_db.prepare_all(
        {"ttl": f"INSERT INTO {ks}.channel_buckets (channel_id, bucket) VALUES (?, ?) USING TTL ?"}
    )
    with pytest.raises(InvalidRequest, match="TTL"):
        await cassandra_db.run("ttl", args=(1, 1, -5))  # the server checks the TTL's sign
    assert await cassandra_db.run("ttl", args=(1, 1, 60)) == []


async def test_callbacks_only_hand_results_to_the_loop_which_delivers_them(
    cassandra_db: cassandra_session.CassandraSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    loop_thread = threading.get_ident()
    handed_from: list[int] = []
    delivered_on: list[int] = []
    original = loop.call_soon_threadsafe

    def recording(callback: Any, *args: Any, **kwargs: Any) -> Any:
        handed_from.append(threading.get_ident())

        def deliver(*inner: Any) -> None:
            delivered_on.append(threading.get_ident())
            callback(*inner)

        return original(deliver, *args, **kwargs)

    monkeypatch.setattr(loop, "call_soon_threadsafe", recording)
    results = await asyncio.gather(
        *(cassandra_db.run("n", "SELECT key FROM system.local") for _ in range(20))
    )

    assert all(rows == [{"key": "local"}] for rows in results)
    assert len(delivered_on) == 20
    assert set(delivered_on) == {loop_thread}
    # Pages arriving after execute_async returned were handed over from the driver's thread.
    assert set(handed_from) - {loop_thread}


async def test_a_cancelled_wait_leaves_the_driver_thread_unharmed(
    cassandra_db: cassandra_session.CassandraSession,
) -> None:
    waiting = asyncio.create_task(cassandra_db.run("n", "SELECT key FROM system.local"))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await cassandra_db.run("n", "SELECT key FROM system.local") == [{"key": "local"}]


def timed(name: str, outcome: str) -> float:
    """How many runs of query `name` the latency histogram counted with `outcome`."""
    labels = {"service": "test", "name": name, "outcome": outcome}
    count = prometheus_client.REGISTRY.get_sample_value(
        "gochat_db_transaction_duration_seconds_count", labels
    )
    return count or 0.0


async def test_a_cancelled_query_is_counted_as_cancelled_not_as_ok(
    cassandra_db: cassandra_session.CassandraSession,
) -> None:
    # A read-ahead read the page did not need is cancelled: no phantom successful read.
    waiting = asyncio.create_task(
        cassandra_db.run("cancelled_read", "SELECT key FROM system.local")
    )
    await asyncio.sleep(0)  # the query is on its way, its coroutine awaits the answer
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting

    assert timed("cancelled_read", "cancelled") == 1
    assert timed("cancelled_read", "ok") == 0
    assert await cassandra_db.run("cancelled_read", "SELECT key FROM system.local")
    assert timed("cancelled_read", "ok") == 1
