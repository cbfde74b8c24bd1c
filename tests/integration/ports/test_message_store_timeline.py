"""The MessageStore contract, part 1: sending and reading a channel's timeline.
Runs against every adapter in conftest.ADAPTERS."""

from __future__ import annotations

import asyncio

import pytest

from gochat import ports
from gochat.core import errors
from tests.integration.ports import message_world as world
from tests.integration.ports.message_world import MessageStoreHarness


async def send_many(
    store: ports.MessageStore, count: int, *, channel_id: int = world.GENERAL
) -> list[int]:
    """`count` messages sent one after another; their ids, oldest first."""
    sent = []
    for number in range(count):
        message = world.new_message(f"message {number}", channel_id=channel_id)
        await store.create(message, events=[])
        sent.append(message.id)
    return sent


async def ids_of(records: list[ports.MessageRecord]) -> list[int]:
    return [record.id for record in records]


async def test_a_created_message_reads_back_with_every_field(harness: MessageStoreHarness) -> None:
    replied = world.new_message("first")
    await harness.store.create(replied, events=[])
    message = world.new_message(
        "hi <@102>",
        nonce="n-1",
        reply_to_id=replied.id,
        mention_ids=(world.BOB, world.CAROL),
        mention_everyone=True,
    )
    await harness.store.create(message, events=world.created(message))

    assert await harness.store.get(world.GENERAL, message.id) == message


async def test_create_records_its_events_with_the_message(harness: MessageStoreHarness) -> None:
    message = world.new_message()
    events = world.created(message)
    await harness.store.create(message, events=events)

    assert await harness.recorded_events() == events


async def test_get_of_an_unknown_id_or_another_channels_message_is_none(
    harness: MessageStoreHarness,
) -> None:
    message = world.new_message(channel_id=world.RANDOM)
    await harness.store.create(message, events=[])

    assert await harness.store.get(world.GENERAL, message.id) is None
    assert await harness.store.get(world.RANDOM, message.id + 1) is None


async def test_a_repeated_nonce_raises_with_the_stored_message_and_records_nothing(
    harness: MessageStoreHarness,
) -> None:
    first = world.new_message("once", nonce="retry-me")
    await harness.store.create(first, events=world.created(first))
    retry = world.new_message("once", nonce="retry-me")

    with pytest.raises(ports.DuplicateNonce) as raised:
        await harness.store.create(retry, events=world.created(retry))

    assert raised.value.existing == first
    assert await harness.store.get(world.GENERAL, retry.id) is None
    assert await harness.event_types() == ["MESSAGE_CREATE"]
    assert await ids_of(await harness.store.list(world.GENERAL)) == [first.id]


async def test_a_nonce_is_scoped_to_its_author_and_channel(harness: MessageStoreHarness) -> None:
    messages = [
        world.new_message(nonce="same"),
        world.new_message(nonce="same", author_id=world.BOB),
        world.new_message(nonce="same", channel_id=world.RANDOM),
        world.new_message(),
        world.new_message(),  # no nonce: never a duplicate
    ]
    for message in messages:
        await harness.store.create(message, events=[])

    for message in messages:
        assert await harness.store.get(message.channel_id, message.id) == message


async def test_concurrent_retries_with_one_nonce_store_one_message(
    harness: MessageStoreHarness,
) -> None:
    attempts = [world.new_message("racing", nonce="race") for _ in range(5)]
    outcomes = await asyncio.gather(
        *(harness.store.create(m, events=world.created(m)) for m in attempts),
        return_exceptions=True,
    )

    stored = [m for m, outcome in zip(attempts, outcomes, strict=True) if outcome is None]
    assert len(stored) == 1
    for outcome in outcomes:
        if outcome is not None:
            assert isinstance(outcome, ports.DuplicateNonce)
            assert outcome.existing == stored[0]
    assert await harness.event_types() == ["MESSAGE_CREATE"]


async def test_an_empty_channel_lists_nothing_whatever_the_anchor(
    harness: MessageStoreHarness,
) -> None:
    store = harness.store
    assert await store.list(world.GENERAL) == []
    assert await store.list(world.GENERAL, before=world.new_message().id) == []
    assert await store.list(world.GENERAL, after=1) == []
    assert await store.list(world.GENERAL, around=world.new_message().id) == []


async def test_without_an_anchor_the_newest_messages_come_first(
    harness: MessageStoreHarness,
) -> None:
    sent = await send_many(harness.store, 7)
    await send_many(harness.store, 3, channel_id=world.RANDOM)  # another channel: never listed

    assert await ids_of(await harness.store.list(world.GENERAL, limit=5)) == sent[::-1][:5]
    assert await ids_of(await harness.store.list(world.GENERAL)) == sent[::-1]


async def test_paging_backwards_with_before_visits_every_message_once(
    harness: MessageStoreHarness,
) -> None:
    sent = await send_many(harness.store, 25)
    seen: list[int] = []
    page = await harness.store.list(world.GENERAL, limit=10)
    while page:
        seen += await ids_of(page)
        page = await harness.store.list(world.GENERAL, before=page[-1].id, limit=10)

    assert seen == sent[::-1]


async def test_paging_forwards_with_after_gives_oldest_first(
    harness: MessageStoreHarness,
) -> None:
    sent = await send_many(harness.store, 25)
    seen: list[int] = []
    page = await harness.store.list(world.GENERAL, after=0, limit=10)
    while page:
        seen += await ids_of(page)
        page = await harness.store.list(world.GENERAL, after=page[-1].id, limit=10)

    assert seen == sent


async def test_before_and_after_exclude_the_anchor(harness: MessageStoreHarness) -> None:
    sent = await send_many(harness.store, 5)

    assert await ids_of(await harness.store.list(world.GENERAL, before=sent[2])) == [
        sent[1],
        sent[0],
    ]
    assert await ids_of(await harness.store.list(world.GENERAL, after=sent[2])) == sent[3:]
    assert await harness.store.list(world.GENERAL, before=sent[0]) == []
    assert await harness.store.list(world.GENERAL, after=sent[-1]) == []


async def test_around_gives_the_message_with_half_the_limit_on_each_side_newest_first(
    harness: MessageStoreHarness,
) -> None:
    sent = await send_many(harness.store, 11)
    middle = sent[5]

    around_5 = await harness.store.list(world.GENERAL, around=middle, limit=5)
    assert await ids_of(around_5) == sent[3:8][::-1]
    # An even limit: limit // 2 older, the rest from the anchor on.
    around_4 = await harness.store.list(world.GENERAL, around=middle, limit=4)
    assert await ids_of(around_4) == sent[3:7][::-1]
    assert await ids_of(await harness.store.list(world.GENERAL, around=middle, limit=1)) == [middle]


async def test_around_near_either_end_gives_a_shorter_page(
    harness: MessageStoreHarness,
) -> None:
    sent = await send_many(harness.store, 6)

    oldest = await harness.store.list(world.GENERAL, around=sent[0], limit=5)
    assert await ids_of(oldest) == sent[0:3][::-1]
    newest = await harness.store.list(world.GENERAL, around=sent[-1], limit=5)
    assert await ids_of(newest) == sent[3:6][::-1]


async def test_around_an_id_without_a_message_pivots_on_that_id(
    harness: MessageStoreHarness,
) -> None:
    sent = await send_many(harness.store, 3)
    gap = world.new_message()  # never stored: an id later than every sent one
    later = await send_many(harness.store, 3)

    page = await harness.store.list(world.GENERAL, around=gap.id, limit=4)
    assert await ids_of(page) == [later[1], later[0], sent[2], sent[1]]


@pytest.mark.parametrize("limit", [0, -1, 101])
async def test_a_limit_outside_1_to_100_is_refused_naming_limit(
    harness: MessageStoreHarness, limit: int
) -> None:
    with pytest.raises(errors.ValidationFailed) as raised:
        await harness.store.list(world.GENERAL, limit=limit)
    assert raised.value.details[0]["field"] == "limit"


async def test_two_anchors_at_once_are_refused_naming_the_second(
    harness: MessageStoreHarness,
) -> None:
    with pytest.raises(errors.ValidationFailed) as raised:
        await harness.store.list(world.GENERAL, before=10, after=5)
    assert raised.value.details[0]["field"] == "after"


async def test_the_largest_page_is_one_hundred(harness: MessageStoreHarness) -> None:
    sent = await send_many(harness.store, 101)
    page = await harness.store.list(world.GENERAL, limit=100)
    assert await ids_of(page) == sent[::-1][:100]
