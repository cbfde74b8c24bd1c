"""A pin, unpin, reaction add or reaction remove on the Cassandra store whose process dies
between the Cassandra write and the PostgreSQL statement that records its events is finished
by the repair sweep: the change is in place and announced exactly once (docs/data-plane.md)."""

from __future__ import annotations

import asyncio

import pytest

from gochat import ports
from gochat.adapters.cassandra import messages as cassandra_messages
from gochat.adapters.cassandra import relational
from gochat.adapters.cassandra import session as cassandra_session
from gochat.adapters.postgres import database
from gochat.core import errors, events
from tests.integration.cassandra import crash_points
from tests.integration.cassandra.crash_points import outbox_types, store
from tests.integration.ports import message_world as world

__all__ = ["store"]  # the fixture: the Cassandra store on the test's databases

# The child runs one change and dies just before ("before") or just after ("after") the
# Cassandra statement `job["statement"]` ran.
_CHANGE = """
async def main():
    db, cs = await connect()
    run = cs.run

    async def run_then_die(name, *args, **kwargs):
        if name == job["statement"] and point == "before":
            killed()
        rows = await run(name, *args, **kwargs)
        if name == job["statement"]:
            killed()
        return rows

    cs.run = run_then_die
    store = await messages.CassandraMessageStore.open(cs, relational_db=db)
    message = relational.record_from_json(job["record"])
    announced = [events.parse(raw) for raw in job["events"]]
    if job["op"] in ("pin", "unpin"):
        pinned_at = datetime.fromisoformat(job["pinned_at"]) if job["op"] == "pin" else None
        await store.set_pinned(message, pinned_at=pinned_at, events=announced)
    elif job["op"] == "react":
        await store.add_reaction(message, emoji="👍", user_id=job["user"], events=announced)
    else:
        await store.remove_reaction(message, emoji="👍", user_id=job["user"], events=announced)
"""
STATEMENT = {
    "pin": "pin_message",
    "unpin": "unpin_message",
    "react": "add_reaction",
    "unreact": "remove_reaction",
}


async def change_and_die(
    op: str,
    point: str,
    message: ports.MessageRecord,
    announced: list[events.Event],
    *,
    pg_database: str,
    cassandra_keyspace: cassandra_session.Settings,
) -> None:
    change = {
        "op": op,
        "statement": STATEMENT[op],
        "record": relational.record_to_json(message),
        "events": [event.model_dump_json() for event in announced],
        "user": world.BOB,
        "pinned_at": world.now().isoformat(),
    }
    await crash_points.run_until_killed(
        _CHANGE, point=point, job=change, pg_database=pg_database,
        cassandra_keyspace=cassandra_keyspace,
    )  # fmt: skip


async def pinned_ids(store: cassandra_messages.CassandraMessageStore) -> list[int]:
    return [message.id for message in await store.pinned(world.GENERAL)]


async def reactors(store: cassandra_messages.CassandraMessageStore, message_id: int) -> list[int]:
    return await store.reaction_users(message_id, emoji="👍", after=None, limit=10)


@pytest.mark.parametrize("point", ["before", "after"])
async def test_a_reaction_add_cut_short_is_finished_and_announced_once_by_the_sweep(
    point: str,
    store: cassandra_messages.CassandraMessageStore,
    message_db: database.Database,
    pg_database: str,
    cassandra_keyspace: cassandra_session.Settings,
) -> None:
    message = world.new_message()
    await store.create(message, events=[])
    added = world.reaction(message, emoji="👍", user_id=world.BOB)

    await change_and_die(
        "react", point, message, added, pg_database=pg_database,
        cassandra_keyspace=cassandra_keyspace,
    )  # fmt: skip
    assert await outbox_types(message_db) == []  # not announced yet

    # Two sweeps at once (two API processes) replay it; it is announced by one.
    await asyncio.gather(store.repair(older_than_seconds=0), store.repair(older_than_seconds=0))
    assert await store.repair(older_than_seconds=0) == 0

    assert await reactors(store, message.id) == [world.BOB]
    assert await outbox_types(message_db) == ["MESSAGE_REACTION_ADD"]
    # Nothing in flight any more: the user can take it back at once.
    removed = world.reaction(message, emoji="👍", user_id=world.BOB, added=False)
    assert await store.remove_reaction(message, emoji="👍", user_id=world.BOB, events=removed)
    assert await outbox_types(message_db) == ["MESSAGE_REACTION_ADD", "MESSAGE_REACTION_REMOVE"]


@pytest.mark.parametrize("point", ["before", "after"])
async def test_a_reaction_remove_cut_short_is_finished_and_announced_once_by_the_sweep(
    point: str,
    store: cassandra_messages.CassandraMessageStore,
    message_db: database.Database,
    pg_database: str,
    cassandra_keyspace: cassandra_session.Settings,
) -> None:
    message = world.new_message()
    await store.create(message, events=[])
    assert await store.add_reaction(message, emoji="👍", user_id=world.BOB, events=[])
    removed = world.reaction(message, emoji="👍", user_id=world.BOB, added=False)

    await change_and_die(
        "unreact", point, message, removed, pg_database=pg_database,
        cassandra_keyspace=cassandra_keyspace,
    )  # fmt: skip
    assert await outbox_types(message_db) == []

    assert await store.repair(older_than_seconds=0) == 1
    assert await store.repair(older_than_seconds=0) == 0

    assert await reactors(store, message.id) == []
    assert await outbox_types(message_db) == ["MESSAGE_REACTION_REMOVE"]


@pytest.mark.parametrize("point", ["before", "after"])
async def test_a_pin_cut_short_is_finished_and_announced_once_by_the_sweep(
    point: str,
    store: cassandra_messages.CassandraMessageStore,
    message_db: database.Database,
    pg_database: str,
    cassandra_keyspace: cassandra_session.Settings,
) -> None:
    message = world.new_message()
    await store.create(message, events=[])

    await change_and_die(
        "pin", point, message, world.pins_changed(message, pinned=True),
        pg_database=pg_database, cassandra_keyspace=cassandra_keyspace,
    )  # fmt: skip
    assert await outbox_types(message_db) == []

    assert await store.repair(older_than_seconds=0) == 1
    assert await store.repair(older_than_seconds=0) == 0

    assert await pinned_ids(store) == [message.id]
    assert await outbox_types(message_db) == ["CHANNEL_PINS_UPDATE"]


@pytest.mark.parametrize("point", ["before", "after"])
async def test_an_unpin_cut_short_is_finished_and_announced_once_by_the_sweep(
    point: str,
    store: cassandra_messages.CassandraMessageStore,
    message_db: database.Database,
    pg_database: str,
    cassandra_keyspace: cassandra_session.Settings,
) -> None:
    message = world.new_message()
    await store.create(message, events=[])
    pinned = await store.set_pinned(message, pinned_at=world.now(), events=[])

    await change_and_die(
        "unpin", point, pinned, world.pins_changed(message, pinned=False),
        pg_database=pg_database, cassandra_keyspace=cassandra_keyspace,
    )  # fmt: skip
    assert await outbox_types(message_db) == []

    assert await store.repair(older_than_seconds=0) == 1
    assert await store.repair(older_than_seconds=0) == 0

    assert await pinned_ids(store) == []
    stored = await store.get(world.GENERAL, message.id)
    assert stored is not None and stored.pinned_at is None
    assert await outbox_types(message_db) == ["CHANNEL_PINS_UPDATE"]


async def test_a_change_of_a_reaction_still_in_flight_waits_then_is_refused_with_409(
    store: cassandra_messages.CassandraMessageStore,
    message_db: database.Database,
    pg_database: str,
    cassandra_keyspace: cassandra_session.Settings,
) -> None:
    message = world.new_message()
    await store.create(message, events=[])
    added = world.reaction(message, emoji="👍", user_id=world.BOB)
    await change_and_die(
        "react", "after", message, added, pg_database=pg_database,
        cassandra_keyspace=cassandra_keyspace,
    )  # fmt: skip

    # The dead owner's add is not finished yet: a remove could not tell it was ever applied.
    removed = world.reaction(message, emoji="👍", user_id=world.BOB, added=False)
    with pytest.raises(errors.Conflict):
        await store.remove_reaction(message, emoji="👍", user_id=world.BOB, events=removed)
    # Another user's reaction is another change.
    carol = world.reaction(message, emoji="👍", user_id=world.CAROL)
    assert await store.add_reaction(message, emoji="👍", user_id=world.CAROL, events=carol)

    assert await store.repair(older_than_seconds=0) == 1
    assert await store.remove_reaction(message, emoji="👍", user_id=world.BOB, events=removed)
    assert await reactors(store, message.id) == [world.CAROL]
    assert await outbox_types(message_db) == [
        "MESSAGE_REACTION_ADD", "MESSAGE_REACTION_ADD", "MESSAGE_REACTION_REMOVE",
    ]  # fmt: skip
