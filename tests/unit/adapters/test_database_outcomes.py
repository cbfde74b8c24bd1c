"""A named PostgreSQL round trip is timed under the outcome it had: a caller cancelled mid-way
(a client that went away, a timeout around it) is "cancelled", not a database "error"."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from gochat.adapters.postgres import database
from gochat.core import metrics


class _Connection:
    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield


class _Pool:
    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[_Connection]:
        yield _Connection()


def _observed(name: str, outcome: str) -> float:
    histogram: Any = metrics.DB_QUERY_LATENCY.labels("unit-outcomes", name, outcome)
    return float(histogram._sum.get()) + sum(bucket.get() for bucket in histogram._buckets)


@pytest.mark.parametrize("round_trip", ["transaction", "connection"])
async def test_a_cancelled_caller_is_counted_as_cancelled_not_as_an_error(round_trip: str) -> None:
    pool: Any = _Pool()
    db = database.Database(pool, service="unit-outcomes")
    name = f"cancelled_{round_trip}"
    entered = asyncio.Event()

    async def caller() -> None:
        async with getattr(db, round_trip)(name):
            entered.set()
            await asyncio.Event().wait()  # a query that never answers

    task = asyncio.create_task(caller())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _observed(name, "cancelled") > 0
    assert _observed(name, "error") == 0


@pytest.mark.parametrize("round_trip", ["transaction", "connection"])
async def test_a_failing_body_is_still_an_error(round_trip: str) -> None:
    pool: Any = _Pool()
    db = database.Database(pool, service="unit-outcomes")
    name = f"failing_{round_trip}"
    with pytest.raises(RuntimeError):
        async with getattr(db, round_trip)(name):
            raise RuntimeError("unique violation")
    assert _observed(name, "error") > 0
    assert _observed(name, "cancelled") == 0
