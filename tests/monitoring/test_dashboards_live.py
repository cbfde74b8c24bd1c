"""Every dashboard query returns data from a real Prometheus scraping the real services.

The services run as `make dev` runs them (tests/monitoring/live.py) under a small load; each
panel's PromQL, with Grafana's variables substituted, must return at least one series.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from tests.monitoring import live, promql

# Queries that cannot have series here, and why; everything else must.
NOT_HERE = {
    "gochat_operator_": "the operator exports these while it reconciles clusters (kind e2e)",
    'reason="TOO_SLOW"': "a cut-off needs a client whose socket buffers fill (tests/unit/ws)",
    "gochat_indexer_dead_letters_total": "needs an index that refuses documents (search tests)",
}


@pytest.fixture(scope="module")
def stack() -> Iterator[live.Stack]:
    with live.running_stack() as running:
        asyncio.run(live.load(running, seconds=6))
        time.sleep(3)  # a few more scrapes, so every counter the load touched has a rate
        yield running


@pytest.mark.slow
def test_every_dashboard_query_returns_series(stack: live.Stack) -> None:
    empty = []
    checked = 0
    for where, expr in promql.dashboard_queries():
        if any(marker in expr for marker in NOT_HERE):
            continue
        checked += 1
        if not stack.query(expr):
            empty.append(f"{where}: {expr}")
    assert checked > 20
    assert not empty, "queries without series:\n" + "\n".join(empty)
