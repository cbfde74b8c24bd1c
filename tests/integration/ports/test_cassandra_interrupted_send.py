"""A send to the Cassandra store whose process dies between the two stores is completed by the
repair sweep: the message ends up in history, its events recorded once, its mentions counted
once; never lost, never announced without being in history (docs/data-plane.md)."""

from __future__ import annotations

import dataclasses

import pytest

from gochat import ports
from gochat.adapters.cassandra import messages as cassandra_messages
from gochat.adapters.cassandra import relational
from gochat.adapters.cassandra import session as cassandra_session
from gochat.adapters.postgres import database
from tests.integration.cassandra import crash_points
from tests.integration.cassandra.crash_points import outbox_types, store
from tests.integration.ports import message_world as world

__all__ = ["store"]  # the fixture: the Cassandra store on the test's databases

# The child sends one message and dies at `point`: "after_timeline" (Cassandra written,
# PostgreSQL not yet) or "before_timeline" (the intent recorded, Cassandra not written).
_SEND = """
async def main():
    db, cs = await connect()
    store = await messages.CassandraMessageStore.open(cs, relational_db=db)
    if point == "after_timeline":
        relational.message_sent = die
    else:
        store._timeline.write = die
    await store.create(
        relational.record_from_json(job["record"]),
        events=[events.parse(raw) for raw in job["events"]],
        mention_reader_ids=job["mentions"],
    )
"""


# The child deletes (or, given "content", edits) one message and dies right after recording
# the change's intent ("before_timeline") or after the Cassandra write, before its events
# ("after_timeline"). An edit's edited_at is the message's created_at.
_CHANGE = """
record_change = relational.record_change

async def record_then_die(*args, **kwargs):
    await record_change(*args, **kwargs)
    killed()

async def main():
    db, cs = await connect()
    store = await messages.CassandraMessageStore.open(cs, relational_db=db)
    if point == "after_timeline":
        relational.change_done = die
    else:
        relational.record_change = record_then_die
    record = relational.record_from_json(job["record"])
    changes = [events.parse(raw) for raw in job["events"]]
    if "content" in job:
        await store.edit(
            record, content=job["content"], edited_at=record.created_at, mention_ids=(),
            mention_everyone=False, events=changes,
        )
    else:
        await store.delete(record, events=changes)
"""


async def send_and_die(
    point: str,
    message: ports.MessageRecord,
    *,
    pg_database: str,
    cassandra_keyspace: cassandra_session.Settings,
    script: str = _SEND,
    content: str | None = None,
) -> None:
    if script == _SEND:
        made = world.created(message)
    elif content is None:
        made = world.deleted(message)
    else:
        made = world.updated(message, content)
    intent: dict[str, object] = {
        "record": relational.record_to_json(message),
        "events": [e.model_dump_json() for e in made],
        "mentions": [world.BOB],
    }
    if content is not None:
        intent["content"] = content
    await crash_points.run_until_killed(
        script, point=point, job=intent, pg_database=pg_database,
        cassandra_keyspace=cassandra_keyspace,
    )  # fmt: skip


async def mention_count(db: database.Database, user_id: int) -> int | None:
    row = await db.fetchrow(
        "mentions",
        "SELECT mention_count FROM read_states WHERE user_id = $1 AND channel_id = $2",
        user_id,
        world.GENERAL,
    )
    return None if row is None else int(row["mention_count"])


async def last_message_id(db: database.Database) -> int | None:
    row = await db.fetchrow(
        "last", "SELECT last_message_id FROM channels WHERE id = $1", world.GENERAL
    )
    assert row is not None
    value: int | None = row["last_message_id"]
    return value


async def test_a_sender_killed_after_the_timeline_write_is_completed_once_by_the_sweep(
    store: cassandra_messages.CassandraMessageStore,
    message_db: database.Database,
    pg_database: str,
    cassandra_keyspace: cassandra_session.Settings,
) -> None:
    message = world.new_message("kept", nonce="n-1", mention_ids=(world.BOB,))
    await send_and_die(
        "after_timeline", message, pg_database=pg_database, cassandra_keyspace=cassandra_keyspace
    )
    # In history already, not yet announced: the sweep's job.
    assert await store.get(world.GENERAL, message.id) == message
    assert await outbox_types(message_db) == []

    assert await store.repair(older_than_seconds=0) == 1
    assert await store.repair(older_than_seconds=0) == 0

    assert [m.id for m in await store.list(world.GENERAL)] == [message.id]
    assert await outbox_types(message_db) == ["MESSAGE_CREATE"]
    assert await mention_count(message_db, world.BOB) == 1
    assert await last_message_id(message_db) == message.id
    # The client's retry with the same nonce gets the message, not a second one.
    with pytest.raises(ports.DuplicateNonce) as retried:
        await store.create(dataclasses.replace(message, id=world.new_message().id), events=[])
    assert retried.value.existing == message


async def test_a_sender_killed_before_the_timeline_write_is_written_by_the_sweep(
    store: cassandra_messages.CassandraMessageStore,
    message_db: database.Database,
    pg_database: str,
    cassandra_keyspace: cassandra_session.Settings,
) -> None:
    message = world.new_message("late", mention_ids=(world.BOB,))
    await send_and_die(
        "before_timeline", message, pg_database=pg_database, cassandra_keyspace=cassandra_keyspace
    )
    assert await store.get(world.GENERAL, message.id) is None

    assert await store.repair(older_than_seconds=0) == 1

    assert await store.get(world.GENERAL, message.id) == message
    assert await outbox_types(message_db) == ["MESSAGE_CREATE"]
    assert await mention_count(message_db, world.BOB) == 1


async def test_the_sweep_never_undoes_an_edit_or_a_delete_made_before_it_ran(
    store: cassandra_messages.CassandraMessageStore,
    message_db: database.Database,
    pg_database: str,
    cassandra_keyspace: cassandra_session.Settings,
) -> None:
    edited, deleted = world.new_message("first"), world.new_message("second")
    for message in (edited, deleted):
        await send_and_die(
            "after_timeline", message, pg_database=pg_database,
            cassandra_keyspace=cassandra_keyspace,
        )  # fmt: skip
    changed = await store.edit(
        edited, content="edited", edited_at=world.now(), mention_ids=(),
        mention_everyone=False, events=[],
    )  # fmt: skip
    await store.delete(deleted, events=[])

    assert await store.repair(older_than_seconds=0) == 2

    assert await store.list(world.GENERAL) == [changed]


@pytest.mark.parametrize("point", ["before_timeline", "after_timeline"])
async def test_a_delete_whose_process_died_midway_is_finished_once_by_the_sweep(
    point: str,
    store: cassandra_messages.CassandraMessageStore,
    message_db: database.Database,
    pg_database: str,
    cassandra_keyspace: cassandra_session.Settings,
) -> None:
    message, kept = world.new_message("gone"), world.new_message("kept")
    for each in (message, kept):
        await store.create(each, events=[])
    await store.add_reaction(message, emoji="👍", user_id=world.BOB, events=[])
    pinned = await store.set_pinned(message, pinned_at=world.now(), events=[])

    await send_and_die(
        point, pinned, pg_database=pg_database, cassandra_keyspace=cassandra_keyspace,
        script=_CHANGE,
    )  # fmt: skip
    assert await outbox_types(message_db) == []  # not announced yet

    assert await store.repair(older_than_seconds=0) == 1
    assert await store.repair(older_than_seconds=0) == 0

    assert [m.id for m in await store.list(world.GENERAL)] == [kept.id]
    assert await store.pinned(world.GENERAL) == []
    assert await store.reactions([message.id], viewer_id=world.BOB) == {}
    assert await outbox_types(message_db) == ["MESSAGE_DELETE"]


@pytest.mark.parametrize("point", ["before_timeline", "after_timeline"])
async def test_an_edit_whose_process_died_midway_is_finished_once_by_the_sweep(
    point: str,
    store: cassandra_messages.CassandraMessageStore,
    message_db: database.Database,
    pg_database: str,
    cassandra_keyspace: cassandra_session.Settings,
) -> None:
    message = world.new_message("before")
    await store.create(message, events=[])

    await send_and_die(
        point, message, pg_database=pg_database, cassandra_keyspace=cassandra_keyspace,
        script=_CHANGE, content="after",
    )  # fmt: skip
    assert await outbox_types(message_db) == []
    assert await store.repair(older_than_seconds=0) == 1
    assert await store.repair(older_than_seconds=0) == 0

    stored = await store.get(world.GENERAL, message.id)
    assert stored is not None
    assert (stored.content, stored.edited_at) == ("after", message.created_at)
    assert await outbox_types(message_db) == ["MESSAGE_UPDATE"]


async def test_an_edit_left_midway_never_overrides_a_later_edit(
    store: cassandra_messages.CassandraMessageStore,
    message_db: database.Database,
    pg_database: str,
    cassandra_keyspace: cassandra_session.Settings,
) -> None:
    message = world.new_message("before")
    await store.create(message, events=[])
    await send_and_die(
        "before_timeline", message, pg_database=pg_database,
        cassandra_keyspace=cassandra_keyspace, script=_CHANGE, content="stale",
    )  # fmt: skip
    later = await store.edit(
        message, content="newest", edited_at=world.now(), mention_ids=(),
        mention_everyone=False, events=world.updated(message, "newest"),
    )  # fmt: skip

    assert await store.repair(older_than_seconds=0) == 1

    assert await store.get(world.GENERAL, message.id) == later
    assert await outbox_types(message_db) == ["MESSAGE_UPDATE"]  # the later edit's only
