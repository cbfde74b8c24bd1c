"""Where a request's time goes, from the outside: the API's own histograms (named database
transactions, HTTP latency) and PostgreSQL's statistics (WAL syncs and their time) and wait
events (backends waiting on the outbox's advisory lock, on the API, on WAL I/O)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import re
from typing import Any

import asyncpg
import httpx

# Label values may hold braces (route templates such as /channels/{channel_id}/messages).
_SAMPLE = re.compile(
    r'^(gochat_\w+?)_(sum|count)\{((?:[^}"]|"[^"]*")*)\} ([0-9.eE+-]+)$', re.MULTILINE
)
_WANTED = ("gochat_db_transaction_duration_seconds", "gochat_http_request_duration_seconds")


def histogram_totals(metrics_text: str) -> dict[str, tuple[float, float]]:
    """ "<metric>{labels}" -> (sum seconds, count) for the histograms that matter here."""
    totals: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0])
    for name, kind, labels, value in _SAMPLE.findall(metrics_text):
        if name in _WANTED:
            totals[f"{name}{{{labels}}}"][0 if kind == "sum" else 1] += float(value)
    return {k: (v[0], v[1]) for k, v in totals.items()}


async def scrape(api_url: str) -> dict[str, tuple[float, float]]:
    async with httpx.AsyncClient(timeout=10) as client:
        return histogram_totals((await client.get(f"{api_url}/metrics")).text)


def mean_ms(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]
) -> dict[str, Any]:
    out = {}
    for key, (total, count) in after.items():
        old_total, old_count = before.get(key, (0.0, 0.0))
        if count - old_count > 0:
            label = re.sub(r'service="\w+",?', "", key.split("{", 1)[1][:-1])
            out[label] = {
                "count": int(count - old_count),
                "mean_ms": round((total - old_total) * 1000 / (count - old_count), 3),
            }
    return out


async def wal_stats(conn: asyncpg.Connection) -> dict[str, float]:
    row = await conn.fetchrow(
        "SELECT wal_records, wal_write, wal_sync, wal_sync_time, wal_write_time FROM pg_stat_wal"
    )
    commits = await conn.fetchval("SELECT sum(xact_commit) FROM pg_stat_database")
    return {**{k: float(v) for k, v in dict(row).items()}, "commits": float(commits)}


class WaitSampler:
    """Samples what the API's backends are doing every `interval` seconds while running."""

    def __init__(self, dsn: str, *, interval: float = 0.02) -> None:
        self._dsn, self._interval = dsn, interval
        self.samples = 0
        self.counts: collections.Counter[str] = collections.Counter()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        conn = await asyncpg.connect(self._dsn)
        try:
            while True:
                rows = await conn.fetch(
                    """SELECT state, wait_event_type, wait_event FROM pg_stat_activity
                       WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
                         AND application_name <> 'gochat-outbox-relay'"""
                )
                self.samples += 1
                for r in rows:
                    self.counts[f"{r['state']}:{r['wait_event_type']}:{r['wait_event']}"] += 1
                await asyncio.sleep(self._interval)
        finally:
            await conn.close()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> dict[str, float]:
        """Mean number of API backends in each state:wait_type:wait_event per sample."""
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        return {k: round(v / max(self.samples, 1), 3) for k, v in self.counts.most_common()}
