"""What the Cassandra MessageStore adds to the shared contract: history across time buckets
reads only the buckets a channel used; a send whose PostgreSQL half fails is taken back out."""

from __future__ import annotations

import dataclasses

import asyncpg
import pytest

from gochat import ports
from gochat.adapters.cassandra import messages as cassandra_messages
from gochat.adapters.cassandra import rows
from gochat.adapters.postgres import database
from gochat.core import ids
from tests.integration.cassandra.counting_session import CountingSession, store_and_session
from tests.integration.ports import message_world as world

__all__ = ["store_and_session"]  # the fixture, shared with the read-ahead tests

DAY_MS = 24 * 3600 * 1000


def message_in_bucket(bucket: int, sequence: int) -> ports.MessageRecord:
    """A message whose id lies `sequence` ms into time bucket `bucket`."""
    when = ids.GOCHAT_EPOCH_MS + bucket * ids.BUCKET_MS + sequence
    message = world.new_message(f"b{bucket}-{sequence}")
    message_id = ids.smallest_id_at(when) | 1
    return dataclasses.replace(message, id=message_id, created_at=ids.created_at(message_id))


async def test_history_walks_the_used_buckets_newest_first_and_skips_the_empty_ones(
    store_and_session: tuple[cassandra_messages.CassandraMessageStore, CountingSession],
) -> None:
    store, counting = store_and_session
    # Buckets 3, 40 and 41 hold messages; the 37 between them never did.
    sent = [message_in_bucket(bucket, n) for bucket in (3, 40, 41) for n in range(3)]
    for message in sent:
        await store.create(message, events=[])
    newest_first = [m.id for m in reversed(sent)]

    counting.counts.clear()
    page = await store.list(world.GENERAL, limit=5)
    assert [m.id for m in page] == newest_first[:5]
    assert counting.counts == {"buckets_down": 1, "page_newest": 2}

    counting.counts.clear()
    older = await store.list(world.GENERAL, before=page[-1].id, limit=10)
    assert [m.id for m in older] == newest_first[5:]
    # The anchor's bucket, then bucket 3: the empty buckets 4..39 are never read.
    assert counting.counts == {"buckets_down": 1, "page_before": 1, "page_newest": 1}

    forward = await store.list(world.GENERAL, after=sent[1].id, limit=4)
    assert [m.id for m in forward] == [m.id for m in sent[2:6]]
    around = await store.list(world.GENERAL, around=sent[3].id, limit=4)
    assert [m.id for m in around] == [m.id for m in sent[1:5]][::-1]


async def test_a_send_whose_events_cannot_be_recorded_is_taken_back_out(
    store_and_session: tuple[cassandra_messages.CassandraMessageStore, CountingSession],
    message_db: database.Database,
) -> None:
    store, _ = store_and_session
    first = world.new_message()
    first_events = world.created(first)
    await store.create(first, events=first_events)
    second = world.new_message(nonce="retry")
    taken = [e.model_copy(update={"id": first_events[0].id}) for e in world.created(second)]

    with pytest.raises(asyncpg.UniqueViolationError):
        await store.create(second, events=taken)

    assert await store.get(world.GENERAL, second.id) is None
    assert [m.id for m in await store.list(world.GENERAL)] == [first.id]
    # The nonce was released with it: the client's retry goes through.
    retry = dataclasses.replace(second, id=world.new_message().id)
    await store.create(retry, events=world.created(retry))
    assert await store.get(world.GENERAL, retry.id) == retry


def test_absent_fields_are_left_unset_never_written_as_null() -> None:
    from cassandra.query import UNSET_VALUE

    bare = world.new_message()  # no nonce, reply, mentions, pin or edit
    values = rows.insert_values(bare)
    columns = [c.strip() for c in rows.COLUMNS.split(",")]
    by_column = dict(zip(columns, values, strict=True))
    assert None not in values
    for column in ("nonce", "reply_to_id", "mention_ids", "pinned_at", "edited_at"):
        assert by_column[column] is UNSET_VALUE


async def test_a_channels_bucket_row_is_written_once_per_process_not_per_send(
    store_and_session: tuple[cassandra_messages.CassandraMessageStore, CountingSession],
) -> None:
    store, counting = store_and_session
    for message in [message_in_bucket(7, n) for n in range(3)] + [message_in_bucket(8, 0)]:
        await store.create(message, events=[])
    assert counting.counts["add_bucket"] == 2
    assert counting.counts["insert_message"] == 4
