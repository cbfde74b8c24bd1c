"""The API's pool hands connections on without asyncpg's reset query (database._keep_session):
that is only safe while nobody leaves session state behind, which the fixture
`session_state_leaks` checks on every release in these tests. Here: that it would notice."""

from __future__ import annotations

import pytest

from tests.integration.api.conftest import Api


@pytest.mark.parametrize(
    ("statement", "leak"),
    [
        ("SET statement_timeout = 1234", "SET statement_timeout"),
        ("LISTEN somewhere", "LISTEN somewhere"),
        ("SELECT pg_advisory_lock(42)", "advisory locks 1"),
        ("CREATE TEMPORARY TABLE scratch (x int)", "temporary tables scratch"),
    ],
)
async def test_session_state_left_on_a_pooled_connection_is_caught(
    api: Api, session_state_leaks: list[str], statement: str, leak: str
) -> None:
    async with api.ctx.db.connection("leaky") as conn:
        await conn.execute(statement)
    assert session_state_leaks == [leak]
    session_state_leaks.clear()  # caught: this test leaked on purpose
    # ...and cleans up after itself: the leaky connection sits in the pool, and the next
    # borrower (the worker-id lease's release at shutdown) would be reported for its state.
    await api.ctx.db.pool.expire_connections()


async def test_transaction_scoped_state_leaves_nothing(
    api: Api, session_state_leaks: list[str]
) -> None:
    async with api.ctx.db.transaction("tidy") as conn:
        await conn.execute("SET LOCAL statement_timeout = 1234")
        await conn.execute("SELECT pg_advisory_xact_lock(42)")
    async with api.ctx.db.connection("after") as conn:
        assert await conn.fetchval("SHOW statement_timeout") == "0"
    assert session_state_leaks == []
