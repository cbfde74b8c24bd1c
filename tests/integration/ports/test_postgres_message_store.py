"""What the PostgreSQL MessageStore adds to the contract: the channel's last_message_id, and
atomicity when recording the events fails after the change was made."""

from __future__ import annotations

import asyncpg
import pytest

from gochat import ports
from gochat.adapters.postgres import database, messages
from gochat.core import events
from tests.integration.ports import message_world as world


@pytest.fixture
def store(message_db: database.Database) -> messages.PostgresMessageStore:
    return messages.PostgresMessageStore(message_db)


async def last_message_id(db: database.Database, channel_id: int) -> int | None:
    row = await db.fetchrow(
        "last_message_id", "SELECT last_message_id FROM channels WHERE id = $1", channel_id
    )
    assert row is not None
    value: int | None = row["last_message_id"]
    return value


def reused_id(event: list[events.Event], taken: events.Event) -> list[events.Event]:
    """The events, with an id the outbox already holds: recording them fails."""
    return [e.model_copy(update={"id": taken.id}) for e in event]


async def test_sending_moves_the_channels_last_message_id_forward_only(
    store: messages.PostgresMessageStore, message_db: database.Database
) -> None:
    older, newer = world.new_message(), world.new_message()
    await store.create(newer, events=[])
    assert await last_message_id(message_db, world.GENERAL) == newer.id

    await store.create(older, events=[])  # a late insert of an earlier id
    assert await last_message_id(message_db, world.GENERAL) == newer.id
    assert await last_message_id(message_db, world.RANDOM) is None


async def test_a_duplicate_nonce_leaves_last_message_id_alone(
    store: messages.PostgresMessageStore, message_db: database.Database
) -> None:
    first = world.new_message(nonce="n")
    await store.create(first, events=[])
    with pytest.raises(ports.DuplicateNonce):
        await store.create(world.new_message(nonce="n"), events=[])
    assert await last_message_id(message_db, world.GENERAL) == first.id


async def test_a_message_whose_events_cannot_be_recorded_is_not_stored(
    store: messages.PostgresMessageStore, message_db: database.Database
) -> None:
    first = world.new_message()
    first_events = world.created(first)
    await store.create(first, events=first_events)
    second = world.new_message()

    with pytest.raises(asyncpg.UniqueViolationError):
        await store.create(second, events=reused_id(world.created(second), first_events[0]))

    assert await store.get(world.GENERAL, second.id) is None
    assert await last_message_id(message_db, world.GENERAL) == first.id


async def test_edits_deletes_pins_and_reactions_roll_back_when_their_events_fail(
    store: messages.PostgresMessageStore,
) -> None:
    message = world.new_message("original")
    taken = world.created(message)
    await store.create(message, events=taken)
    await store.add_reaction(message, emoji="👍", user_id=world.BOB, events=[])

    with pytest.raises(asyncpg.UniqueViolationError):
        await store.edit(
            message,
            content="changed",
            edited_at=world.now(),
            mention_ids=(),
            mention_everyone=False,
            events=reused_id(world.updated(message, "changed"), taken[0]),
        )
    with pytest.raises(asyncpg.UniqueViolationError):
        await store.set_pinned(
            message,
            pinned_at=world.now(),
            events=reused_id(world.pins_changed(message, pinned=True), taken[0]),
        )
    with pytest.raises(asyncpg.UniqueViolationError):
        await store.add_reaction(
            message,
            emoji="🎉",
            user_id=world.CAROL,
            events=reused_id(world.reaction(message, emoji="🎉", user_id=world.CAROL), taken[0]),
        )
    with pytest.raises(asyncpg.UniqueViolationError):
        await store.remove_reaction(
            message,
            emoji="👍",
            user_id=world.BOB,
            events=reused_id(world.reaction(message, emoji="👍", user_id=world.BOB), taken[0]),
        )
    with pytest.raises(asyncpg.UniqueViolationError):
        await store.delete(message, events=reused_id(world.deleted(message), taken[0]))

    assert await store.get(world.GENERAL, message.id) == message
    assert await store.reactions([message.id], viewer_id=world.BOB) == {
        message.id: [ports.ReactionSummary(emoji="👍", count=1, me=True)]
    }
