"""PostgreSQL search plans every query with its own values, however often a pooled connection
has run the statement.

asyncpg prepares each statement once per connection; from the sixth execution PostgreSQL may
keep a generic plan, made without the values. For a common word under a selective filter (one
author) that plan takes the text match for a default 1,000 rows, reads every posting of the
word and throws all but the author's away: 10-30x slower than the author index it picks with
the values (bench/dataplane/FINDINGS.md; `python -m bench.dataplane.explain_search --generic`).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from gochat import ports
from gochat.adapters.postgres.database import Database
from gochat.adapters.postgres.search import PostgresSearchIndex
from gochat.core import ids

GUILD = 4000
CHANNELS = list(range(4100, 4110))
AUTHORS = list(range(4200, 4300))
WORDS = [f"w{n}x" for n in range(300)]


@pytest.fixture
async def one_connection(search_dsn: str) -> AsyncIterator[Database]:
    """A pool of one connection: every search runs the same prepared statements."""
    db = await Database.connect(search_dsn, service="test", min_size=1, max_size=1)
    try:
        yield db
    finally:
        await db.close()


async def _common_word_in_most_messages(db: Database, index: PostgresSearchIndex) -> None:
    rng = random.Random(5)
    start = datetime.now(UTC) - timedelta(days=30)
    documents = []
    for n in range(5_000):
        message_id = ids.smallest_id_at(int((start + timedelta(minutes=n)).timestamp() * 1000))
        words = ["common", *rng.choices(WORDS, k=6)] if n % 4 else rng.choices(WORDS, k=7)
        documents.append(
            ports.SearchDocument(
                message_id=message_id,
                guild_id=GUILD,
                channel_id=rng.choice(CHANNELS),
                author_id=rng.choice(AUTHORS),
                content=" ".join(words),
                mention_ids=(),
                created_at=ids.created_at(message_id),
                version=message_id,
            )
        )
    for first in range(0, len(documents), 1_000):
        await index.upsert(documents[first : first + 1_000])
    async with db.connection("test_analyze") as conn:
        await conn.execute("VACUUM ANALYZE search_documents")


async def test_a_search_repeated_on_one_connection_is_planned_with_its_values_each_time(
    one_connection: Database,
) -> None:
    index = PostgresSearchIndex(one_connection)
    await _common_word_in_most_messages(one_connection, index)
    for author in AUTHORS[:12]:
        query = ports.SearchQuery(
            guild_id=GUILD, text="common", channel_ids=CHANNELS, author_id=author
        )
        result = await index.search(query)
        assert result.total > 0
    async with one_connection.connection("test_plans") as conn:
        # And nothing is left on the pooled connection for its next borrower.
        left = await conn.fetch(
            """SELECT name FROM pg_settings
               WHERE source = 'session' AND setting IS DISTINCT FROM reset_val"""
        )
        assert [row["name"] for row in left] == []
        plans = await conn.fetch(
            """SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements
               WHERE statement LIKE '%FROM search_documents d%'
                 AND statement NOT LIKE '%pg_prepared_statements%'"""
        )
    # The count and the page, each run once per search.
    assert [row["generic_plans"] + row["custom_plans"] for row in plans] == [12, 12]
    generic = {row["statement"][:60]: row["generic_plans"] for row in plans if row["generic_plans"]}
    assert not generic, f"planned without their values: {generic}"
