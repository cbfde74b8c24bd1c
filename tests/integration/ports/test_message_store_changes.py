"""The MessageStore contract, part 2: edits, deletes, pins and reactions, each with its events
recorded exactly when the change happens. Runs against every adapter in conftest.ADAPTERS."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from gochat import ports
from gochat.core import errors
from tests.integration.ports import message_world as world
from tests.integration.ports.message_world import MessageStoreHarness


async def stored(harness: MessageStoreHarness, **fields: object) -> ports.MessageRecord:
    message = world.new_message(**fields)  # type: ignore[arg-type]
    await harness.store.create(message, events=[])
    return message


async def test_an_edit_replaces_content_and_mentions_and_records_its_event(
    harness: MessageStoreHarness,
) -> None:
    message = await stored(harness, content="before", mention_ids=(world.BOB,))
    edited_at = world.now()
    events = world.updated(message, "after @everyone")

    result = await harness.store.edit(
        message,
        content="after @everyone",
        edited_at=edited_at,
        mention_ids=(world.CAROL,),
        mention_everyone=True,
        events=events,
    )

    expected = dataclasses.replace(
        message,
        content="after @everyone",
        edited_at=edited_at,
        mention_ids=(world.CAROL,),
        mention_everyone=True,
    )
    assert result == expected
    assert await harness.store.get(world.GENERAL, message.id) == expected
    assert await harness.recorded_events() == events


async def test_editing_a_deleted_message_is_not_found_and_records_nothing(
    harness: MessageStoreHarness,
) -> None:
    message = await stored(harness)
    await harness.store.delete(message, events=[])

    with pytest.raises(errors.NotFound):
        await harness.store.edit(
            message,
            content="too late",
            edited_at=world.now(),
            mention_ids=(),
            mention_everyone=False,
            events=world.updated(message, "too late"),
        )
    assert await harness.recorded_events() == []


async def test_a_delete_removes_the_message_and_its_reactions_and_records_its_event(
    harness: MessageStoreHarness,
) -> None:
    message = await stored(harness)
    kept = await stored(harness)
    for target in (message, kept):
        await harness.store.add_reaction(target, emoji="👍", user_id=world.BOB, events=[])

    await harness.store.delete(message, events=world.deleted(message))

    assert await harness.store.get(world.GENERAL, message.id) is None
    assert [m.id for m in await harness.store.list(world.GENERAL)] == [kept.id]
    assert set(await harness.store.reactions([message.id, kept.id], viewer_id=world.BOB)) == {
        kept.id
    }
    assert await harness.event_types() == ["MESSAGE_DELETE"]


async def test_deleting_a_message_twice_is_not_found_and_records_one_event(
    harness: MessageStoreHarness,
) -> None:
    message = await stored(harness)
    await harness.store.delete(message, events=world.deleted(message))

    with pytest.raises(errors.NotFound):
        await harness.store.delete(message, events=world.deleted(message))
    assert await harness.event_types() == ["MESSAGE_DELETE"]


async def test_pinning_and_unpinning_records_each_change(harness: MessageStoreHarness) -> None:
    message = await stored(harness)
    pinned_at = world.now()

    pinned = await harness.store.set_pinned(
        message, pinned_at=pinned_at, events=world.pins_changed(message, pinned=True)
    )
    assert pinned == dataclasses.replace(message, pinned_at=pinned_at)
    assert await harness.store.pinned(world.GENERAL) == [pinned]

    unpinned = await harness.store.set_pinned(
        pinned, pinned_at=None, events=world.pins_changed(message, pinned=False)
    )
    assert unpinned == message
    assert await harness.store.pinned(world.GENERAL) == []
    assert await harness.event_types() == ["CHANNEL_PINS_UPDATE", "CHANNEL_PINS_UPDATE"]


async def test_pinning_a_pinned_message_keeps_its_pin_time_and_records_nothing(
    harness: MessageStoreHarness,
) -> None:
    message = await stored(harness)
    first_pin = await harness.store.set_pinned(message, pinned_at=world.now(), events=[])

    again = await harness.store.set_pinned(
        first_pin,
        pinned_at=world.now() + timedelta(minutes=1),
        events=world.pins_changed(message, pinned=True),
    )
    assert again == first_pin
    never_pinned = await stored(harness)
    unpinned = await harness.store.set_pinned(
        never_pinned, pinned_at=None, events=world.pins_changed(never_pinned, pinned=False)
    )
    assert unpinned == never_pinned
    assert await harness.recorded_events() == []


async def test_pins_list_the_most_recently_pinned_first_and_only_this_channels(
    harness: MessageStoreHarness,
) -> None:
    older, newer = await stored(harness), await stored(harness)
    elsewhere = await stored(harness, channel_id=world.RANDOM)
    start = world.now()
    for minutes, message in enumerate((newer, older, elsewhere)):  # pinned in this order
        pinned_at = start + timedelta(minutes=minutes)
        await harness.store.set_pinned(message, pinned_at=pinned_at, events=[])

    assert [m.id for m in await harness.store.pinned(world.GENERAL)] == [older.id, newer.id]


async def test_pinning_a_deleted_message_is_not_found(harness: MessageStoreHarness) -> None:
    message = await stored(harness)
    await harness.store.delete(message, events=[])
    with pytest.raises(errors.NotFound):
        await harness.store.set_pinned(
            message, pinned_at=world.now(), events=world.pins_changed(message, pinned=True)
        )
    assert await harness.recorded_events() == []


async def test_a_reaction_is_added_once_per_user_and_emoji(harness: MessageStoreHarness) -> None:
    message = await stored(harness)
    add = world.reaction(message, emoji="🎉", user_id=world.BOB)

    assert await harness.store.add_reaction(message, emoji="🎉", user_id=world.BOB, events=add)
    again = world.reaction(message, emoji="🎉", user_id=world.BOB)
    assert not await harness.store.add_reaction(
        message, emoji="🎉", user_id=world.BOB, events=again
    )
    assert await harness.recorded_events() == add


async def test_removing_a_reaction_reports_whether_there_was_one(
    harness: MessageStoreHarness,
) -> None:
    message = await stored(harness)
    await harness.store.add_reaction(message, emoji="🎉", user_id=world.BOB, events=[])
    remove = world.reaction(message, emoji="🎉", user_id=world.BOB, added=False)

    assert await harness.store.remove_reaction(
        message, emoji="🎉", user_id=world.BOB, events=remove
    )
    assert not await harness.store.remove_reaction(
        message, emoji="🎉", user_id=world.BOB, events=remove
    )
    assert await harness.recorded_events() == remove
    assert await harness.store.reactions([message.id], viewer_id=world.BOB) == {}


async def test_reacting_to_a_deleted_message_is_not_found(harness: MessageStoreHarness) -> None:
    message = await stored(harness)
    await harness.store.delete(message, events=[])
    with pytest.raises(errors.NotFound):
        await harness.store.add_reaction(
            message,
            emoji="🎉",
            user_id=world.BOB,
            events=world.reaction(message, emoji="🎉", user_id=world.BOB),
        )
    assert await harness.recorded_events() == []


async def test_reaction_summaries_count_users_mark_the_viewer_and_keep_first_use_order(
    harness: MessageStoreHarness,
) -> None:
    first, second, quiet = await stored(harness), await stored(harness), await stored(harness)
    for emoji, user_id in [("🎉", world.BOB), ("👍", world.ALICE), ("🎉", world.CAROL)]:
        await harness.store.add_reaction(first, emoji=emoji, user_id=user_id, events=[])
    await harness.store.add_reaction(second, emoji="👍", user_id=world.CAROL, events=[])

    summaries = await harness.store.reactions(
        [first.id, second.id, quiet.id], viewer_id=world.ALICE
    )

    assert summaries == {
        first.id: [
            ports.ReactionSummary(emoji="🎉", count=2, me=False),
            ports.ReactionSummary(emoji="👍", count=1, me=True),
        ],
        second.id: [ports.ReactionSummary(emoji="👍", count=1, me=False)],
    }
    assert await harness.store.reactions([], viewer_id=world.ALICE) == {}


async def test_reaction_users_page_by_ascending_user_id(harness: MessageStoreHarness) -> None:
    message = await stored(harness)
    for user_id in reversed(world.REACTORS):
        await harness.store.add_reaction(message, emoji="🎉", user_id=user_id, events=[])
    await harness.store.add_reaction(message, emoji="👍", user_id=world.BOB, events=[])

    seen: list[int] = []
    page = await harness.store.reaction_users(message.id, emoji="🎉", after=None, limit=5)
    while page:
        seen += page
        page = await harness.store.reaction_users(message.id, emoji="🎉", after=page[-1], limit=5)

    assert seen == list(world.REACTORS)
    assert await harness.store.reaction_users(message.id, emoji="🙃", after=None, limit=5) == []


@pytest.mark.parametrize("limit", [0, 101])
async def test_reaction_users_refuse_a_limit_outside_1_to_100(
    harness: MessageStoreHarness, limit: int
) -> None:
    message = await stored(harness)
    with pytest.raises(errors.ValidationFailed) as raised:
        await harness.store.reaction_users(message.id, emoji="🎉", after=None, limit=limit)
    assert raised.value.details[0]["field"] == "limit"
