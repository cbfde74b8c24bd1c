"""Named database round trips make a span only when spans go somewhere (tracing set up before
the pool is made); the latency histogram is kept either way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gochat.adapters.postgres import database
from gochat.core import metrics


class _Pool:
    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[object]:
        yield object()


def _database() -> database.Database:
    pool: Any = _Pool()
    return database.Database(pool, service="unit")


def _count(name: str) -> float:
    return metrics.DB_QUERY_LATENCY.labels("unit", name, "ok")._sum.get()  # type: ignore[attr-defined]


async def test_with_tracing_on_each_round_trip_is_a_span(
    exported_spans: InMemorySpanExporter,
) -> None:
    db = _database()
    async with db.connection("read_thing"):
        pass
    assert [span.name for span in exported_spans.get_finished_spans()] == ["db.read_thing"]


async def test_with_tracing_off_round_trips_are_still_timed() -> None:
    db = _database()
    before = _count("quiet_thing")
    async with db.connection("quiet_thing"):
        pass
    assert _count("quiet_thing") > before
