"""Cassandra not answering during a send: the send fails with 503 Retry-After (StoreUnavailable),
nothing stays half-written, and sends succeed again once Cassandra answers."""

from __future__ import annotations

from typing import Any

import pytest

from gochat.adapters.cassandra import messages as cassandra_messages
from gochat.adapters.cassandra import session as cassandra_session
from gochat.adapters.postgres import database
from gochat.core import events
from tests.integration.ports import message_world as world


class FlakySession:
    """The store's session; queries named in `failing` run (a write that timed out may still
    have been applied) and then raise as an unreachable Cassandra does."""

    def __init__(self, inner: cassandra_session.CassandraSession) -> None:
        self._inner = inner
        self.keyspace = inner.keyspace
        self.statements = inner.statements
        self.failing: set[str] = set()

    async def prepare_all(self, statements: Any) -> None:
        await self._inner.prepare_all(statements)

    async def run(self, name: str, statement: Any = None, args: Any = ()) -> Any:
        rows = await self._inner.run(name, statement, args)
        if name in self.failing:
            raise cassandra_session.StoreUnavailable(f"Cassandra did not answer {name}")
        return rows


@pytest.fixture
async def flaky(
    message_db: database.Database,
    cassandra_keyspace: cassandra_session.Settings,
    cassandra_db: cassandra_session.CassandraSession,
) -> tuple[cassandra_messages.CassandraMessageStore, FlakySession]:
    session = FlakySession(cassandra_db)
    store = await cassandra_messages.CassandraMessageStore.open(
        session,  # type: ignore[arg-type]
        relational_db=message_db,
    )
    return store, session


async def intents(db: database.Database) -> list[tuple[int, bool]]:
    rows = await db.fetch("intents", "SELECT message_id, abandoned FROM message_intents")
    return [(row["message_id"], row["abandoned"]) for row in rows]


async def outbox_types(db: database.Database) -> list[str]:
    rows = await db.fetch("outbox", "SELECT payload FROM outbox ORDER BY seq")
    return [events.parse(bytes(row["payload"])).type for row in rows]


async def test_a_send_cassandra_does_not_answer_is_refused_and_taken_back_out(
    flaky: tuple[cassandra_messages.CassandraMessageStore, FlakySession],
    message_db: database.Database,
) -> None:
    store, session = flaky
    message = world.new_message(nonce="n")
    session.failing = {"insert_message"}  # applied, but the answer never came

    with pytest.raises(cassandra_session.StoreUnavailable) as raised:
        await store.create(message, events=world.created(message))

    assert raised.value.status == 503 and raised.value.headers == {"Retry-After": "2"}
    assert await store.get(world.GENERAL, message.id) is None
    assert await intents(message_db) == []
    assert await outbox_types(message_db) == []
    session.failing = set()
    retry = world.new_message(nonce="n")  # the client's retry: a new id, the same nonce
    await store.create(retry, events=world.created(retry))
    assert [m.id for m in await store.list(world.GENERAL)] == [retry.id]


async def test_a_send_that_cannot_even_be_taken_back_is_removed_by_the_sweep_not_completed(
    flaky: tuple[cassandra_messages.CassandraMessageStore, FlakySession],
    message_db: database.Database,
) -> None:
    store, session = flaky
    message = world.new_message(nonce="n")
    session.failing = {"insert_message", "remove_message"}

    with pytest.raises(cassandra_session.StoreUnavailable):
        await store.create(message, events=world.created(message))

    assert await intents(message_db) == [(message.id, True)]
    assert await outbox_types(message_db) == []  # never announced
    session.failing = set()  # Cassandra is back
    assert await store.repair(older_than_seconds=0) == 1

    assert await store.get(world.GENERAL, message.id) is None
    assert await intents(message_db) == []
    assert await outbox_types(message_db) == []
    retry = world.new_message(nonce="n")  # the nonce is free again
    await store.create(retry, events=world.created(retry))
    assert [m.id for m in await store.list(world.GENERAL)] == [retry.id]
    assert await outbox_types(message_db) == ["MESSAGE_CREATE"]


async def test_a_pin_whose_answer_never_came_is_listed_as_the_message_says(
    flaky: tuple[cassandra_messages.CassandraMessageStore, FlakySession],
) -> None:
    store, session = flaky
    message = world.new_message()
    await store.create(message, events=[])
    pinned_at = world.now()
    session.failing = {"pin_message"}  # applied, but the answer never came

    with pytest.raises(cassandra_session.StoreUnavailable):
        await store.set_pinned(message, pinned_at=pinned_at, events=[])

    session.failing = set()
    stored = await store.get(world.GENERAL, message.id)
    assert stored is not None and stored.pinned_at == pinned_at
    assert await store.pinned(world.GENERAL) == [stored]
