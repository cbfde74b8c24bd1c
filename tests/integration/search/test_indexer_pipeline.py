"""The indexer in-process against a real nats-server and PostgreSQL: events in, index out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest
from prometheus_client import REGISTRY

from gochat.adapters.nats import indexer_consumer
from gochat.adapters.postgres.database import Database
from gochat.adapters.postgres.search import PostgresSearchIndex
from gochat.core import config, events
from gochat.indexer import app as indexer_app
from gochat.indexer.worker import IndexWorker
from gochat.ports import SearchDocument, SearchQuery, SearchResult
from tests.fixtures import servers
from tests.integration.search import support
from tests.integration.search.support import Chat, EventsOut, eventually

GENERAL, RANDOM = support.next_id(), support.next_id()


@pytest.fixture
async def indexer(
    indexer_config: config.IndexerConfig,
) -> AsyncIterator[indexer_app.IndexerContext]:
    async with indexer_app.running_indexer(indexer_config) as ctx:
        yield ctx


async def search(db: Database, chat: Chat, text: str) -> SearchResult:
    query = SearchQuery(guild_id=chat.guild_id, text=text, channel_ids=[GENERAL, RANDOM])
    return await PostgresSearchIndex(db).search(query)


async def found_ids(db: Database, chat: Chat, text: str) -> list[int]:
    return [hit.message_id for hit in (await search(db, chat, text)).hits]


async def stored_rows(db: Database, chat: Chat) -> int:
    row = await db.fetchrow(
        "count_docs",
        "SELECT count(*) AS n FROM search_documents WHERE guild_id = $1",
        chat.guild_id,
    )
    assert row is not None
    return int(row["n"])


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_posted_messages_become_searchable(
    indexer: indexer_app.IndexerContext, events_out: EventsOut, search_db: Database
) -> None:
    chat = Chat()
    hello = chat.message("hello from the release train", channel_id=GENERAL)
    other = chat.message("lunch is at noon", channel_id=RANDOM)
    await events_out.send(chat.created(hello), chat.created(other))

    async def indexed() -> bool:
        return await found_ids(search_db, chat, "release") == [hello.id]

    await eventually(indexed, what="the message to be indexed")
    result = await search(search_db, chat, "release train")
    assert result.hits[0].channel_id == GENERAL
    assert "<mark>release</mark> <mark>train</mark>" in result.hits[0].snippet
    assert await found_ids(search_db, chat, "noon") == [other.id]


async def test_edits_replace_text_and_deletes_remove(
    indexer: indexer_app.IndexerContext, events_out: EventsOut, search_db: Database
) -> None:
    chat = Chat()
    typo = chat.message("teh quarterly numbers", channel_id=GENERAL)
    doomed = chat.message("temporary quarterly note", channel_id=GENERAL)
    # Event ids are versions: build the events in the order the API would.
    created = [chat.created(typo), chat.created(doomed)]
    fixed, edit = chat.edited(typo, "the quarterly figures")
    await events_out.send(*created, edit, chat.deleted(doomed))

    async def settled() -> bool:
        # The edit keeps the message id, so "quarterly" alone cannot tell whether it landed.
        edited = await found_ids(search_db, chat, "figures") == [fixed.id]
        return edited and await found_ids(search_db, chat, "quarterly") == [fixed.id]

    await eventually(settled, what="edit and delete to be applied")
    assert await found_ids(search_db, chat, "numbers") == []


async def test_edit_after_delete_does_not_resurrect(
    indexer: indexer_app.IndexerContext, events_out: EventsOut, search_db: Database
) -> None:
    chat = Chat()
    message = chat.message("secret plans", channel_id=GENERAL)
    created = chat.created(message)
    _, late_edit = chat.edited(message, "secret plans v2")  # raced the delete in the API
    marker = chat.message("marker after", channel_id=GENERAL)
    # The delete first, then the edit, then the create again (a relay republishing outside
    # JetStream's duplicate window): none of them may bring the message back.
    await events_out.send(created, chat.deleted(message), late_edit)
    await events_out.raw(created.subject, created.model_dump_json().encode(), msg_id="replay-1")
    await events_out.send(chat.created(marker))

    async def marker_indexed() -> bool:
        return await found_ids(search_db, chat, "marker") == [marker.id]

    await eventually(marker_indexed, what="the marker message")
    assert await found_ids(search_db, chat, "secret") == []


async def test_redelivered_events_change_nothing(
    indexer: indexer_app.IndexerContext,
    indexer_config: config.IndexerConfig,
    events_out: EventsOut,
    search_db: Database,
) -> None:
    chat = Chat()
    posted = [chat.message(f"status update {n}", channel_id=GENERAL) for n in range(20)]
    await events_out.send(*[chat.created(m) for m in posted])
    edited, edit = chat.edited(posted[0], "status update zero, edited")
    await events_out.send(edit)

    async def all_indexed() -> bool:
        return (await search(search_db, chat, "status")).total == 20 and (
            await found_ids(search_db, chat, "edited")
        ) == [edited.id]

    await eventually(all_indexed, what="20 messages and one edit")
    # A second consumer reads the whole stream again: every event is delivered once more.
    again = config.IndexerConfig(**(indexer_config.model_dump() | {"consumer_name": "replay"}))
    async with indexer_app.running_indexer(again):

        async def replayed() -> bool:
            info = await events_out.js.consumer_info(events_out.stream, "replay")
            return (
                info.num_pending == 0
                and info.num_ack_pending == 0
                and (info.delivered.stream_seq >= 21)
            )

        await eventually(replayed, what="the replay to finish")
    assert (await search(search_db, chat, "status")).total == 20
    assert await found_ids(search_db, chat, "edited") == [edited.id]
    assert await stored_rows(search_db, chat) == 20


async def test_unparseable_event_is_dead_lettered_and_the_stream_keeps_flowing(
    indexer: indexer_app.IndexerContext, events_out: EventsOut, search_db: Database
) -> None:
    chat = Chat()
    dead_before = metric("gochat_indexer_dead_letters_total", reason="unparseable")
    poison_subject = f"gochat.ev.guild.{chat.guild_id}.MESSAGE_CREATE"
    await events_out.raw(poison_subject, b'{"not": "an event"', msg_id="poison-1")
    after = chat.message("still flowing", channel_id=GENERAL)
    await events_out.send(chat.created(after))

    async def flowing() -> bool:
        return await found_ids(search_db, chat, "flowing") == [after.id]

    await eventually(flowing, what="the message after the poison")
    letter = await next_dead_letter(events_out, from_stream=events_out.stream)
    assert letter.data == b'{"not": "an event"'
    assert letter.headers is not None
    assert letter.headers[indexer_consumer.HEADER_SUBJECT] == poison_subject
    assert letter.headers[indexer_consumer.HEADER_REASON].startswith("unparseable")
    assert metric("gochat_indexer_dead_letters_total", reason="unparseable") == dead_before + 1


class FlakyIndex:
    """The real index, except that writes containing `poison_id` fail, and every write fails
    while `down` is set."""

    def __init__(self, real: PostgresSearchIndex, poison_id: int) -> None:
        self.real, self.poison_id, self.down = real, poison_id, False

    async def upsert(self, documents: Sequence[SearchDocument]) -> None:
        if self.down or any(d.message_id == self.poison_id for d in documents):
            raise RuntimeError("index write failed")
        await self.real.upsert(documents)

    async def delete(self, message_ids: Sequence[int]) -> None:
        if self.down:
            raise RuntimeError("index write failed")
        await self.real.delete(message_ids)

    async def purge(self, *, guild_id: int | None = None, channel_id: int | None = None) -> None:
        await self.real.purge(guild_id=guild_id, channel_id=channel_id)

    async def search(self, query: SearchQuery) -> SearchResult:
        return await self.real.search(query)

    async def healthy(self) -> None:
        if self.down:
            raise ConnectionError("index down")


async def test_failing_message_is_retried_then_dead_lettered(
    indexer_config: config.IndexerConfig, events_out: EventsOut, search_db: Database
) -> None:
    chat = Chat()
    good = [chat.message(f"batch item {n}", channel_id=GENERAL) for n in range(5)]
    poison = chat.message("batch item poisoned", channel_id=GENERAL)
    await events_out.send(*(chat.created(m) for m in [*good[:2], poison, *good[2:]]))
    flaky = FlakyIndex(PostgresSearchIndex(search_db), poison.id)
    async with running_worker(indexer_config, events_out, flaky, max_deliveries=3):

        async def good_indexed() -> bool:
            return (await search(search_db, chat, "batch")).total == 5

        await eventually(good_indexed, what="the good messages")
        letter = await next_dead_letter(events_out, from_stream=events_out.stream)
    assert letter.headers is not None
    assert letter.headers[indexer_consumer.HEADER_DELIVERIES] == "3"
    assert letter.headers[indexer_consumer.HEADER_REASON].startswith("failing")
    assert await found_ids(search_db, chat, "poisoned") == []


async def test_index_outage_hands_batches_back_without_dead_letters(
    indexer_config: config.IndexerConfig, events_out: EventsOut, search_db: Database
) -> None:
    chat = Chat()
    flaky = FlakyIndex(PostgresSearchIndex(search_db), poison_id=-1)
    flaky.down = True
    dead_before = metric("gochat_indexer_dead_letters_total", reason="failing")
    posted = [chat.message(f"outage item {n}", channel_id=GENERAL) for n in range(10)]
    async with running_worker(indexer_config, events_out, flaky, max_deliveries=2):
        await events_out.send(*(chat.created(m) for m in posted))
        await asyncio.sleep(1.5)  # several delivery attempts, all during the outage
        flaky.down = False

        async def recovered() -> bool:
            return (await search(search_db, chat, "outage")).total == 10

        await eventually(recovered, what="indexing after the outage")
    assert metric("gochat_indexer_dead_letters_total", reason="failing") == dead_before


def running_worker(
    cfg: config.IndexerConfig, events_out: EventsOut, index: FlakyIndex, *, max_deliveries: int
) -> _RunningWorker:
    return _RunningWorker(cfg, events_out, index, max_deliveries)


class _RunningWorker:
    def __init__(
        self,
        cfg: config.IndexerConfig,
        events_out: EventsOut,
        index: FlakyIndex,
        max_deliveries: int,
    ) -> None:
        self.consumer = indexer_consumer.IndexerConsumer(
            events_out.client, stream=cfg.nats_stream, name=cfg.consumer_name, batch_size=10
        )
        self.worker = IndexWorker(
            source=self.consumer,
            index=index,
            index_healthy=index.healthy,
            max_deliveries=max_deliveries,
            poll_seconds=0.2,
            retry_delay=0.05,
        )
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> IndexWorker:
        await self.consumer.start()
        self.task = asyncio.create_task(self.worker.run())
        return self.worker

    async def __aexit__(self, *exc: object) -> None:
        self.worker.stop()
        assert self.task is not None
        await asyncio.wait_for(self.task, timeout=10)
        await self.consumer.stop()


async def next_dead_letter(events_out: EventsOut, *, from_stream: str) -> support.DeadLetter:
    return await support.find_dead_letter(events_out, from_stream=from_stream)


async def test_indexing_resumes_after_a_nats_outage(
    indexer: indexer_app.IndexerContext,
    events_out: EventsOut,
    search_db: Database,
    nats_server: servers.NatsServer,
) -> None:
    chat = Chat()
    before = chat.message("before the outage", channel_id=GENERAL)
    await events_out.send(chat.created(before))

    async def first_indexed() -> bool:
        return await found_ids(search_db, chat, "outage") == [before.id]

    await eventually(first_indexed, what="the first message")
    nats_server.stop()
    await asyncio.sleep(2)  # the indexer's fetches fail meanwhile; it must keep trying
    nats_server.start()

    async def reconnected() -> bool:
        return events_out.client.is_connected and indexer.nats.is_connected

    await eventually(reconnected, within=30, what="both clients to reconnect")
    after = chat.message("after the outage", channel_id=GENERAL)
    await events_out.send(chat.created(after))

    async def second_indexed() -> bool:
        return set(await found_ids(search_db, chat, "outage")) == {before.id, after.id}

    await eventually(second_indexed, within=30, what="the message sent after the outage")
    assert not indexer.task.done()


async def test_two_replicas_share_the_consumer_and_agree_on_the_result(
    indexer_config: config.IndexerConfig, events_out: EventsOut, search_db: Database
) -> None:
    chat = Chat()
    shared = indexer_config.model_copy(update={"batch_size": 10})
    expected: dict[int, str] = {}
    async with indexer_app.running_indexer(shared), indexer_app.running_indexer(shared):
        for n in range(300):
            message = chat.message(f"replica item {n}", channel_id=GENERAL)
            await events_out.send(chat.created(message))
            expected[message.id] = message.content
            if n % 4 == 1:
                edited, edit = chat.edited(message, f"replica item {n} edited")
                await events_out.send(edit)
                expected[message.id] = edited.content
            if n % 9 == 2:
                await events_out.send(chat.deleted(message))
                del expected[message.id]

        async def caught_up() -> bool:
            info = await events_out.js.consumer_info(events_out.stream, shared.consumer_name)
            return info.num_pending == 0 and info.num_ack_pending == 0

        await eventually(caught_up, what="both replicas to drain the stream")
    index = PostgresSearchIndex(search_db)
    pages = [
        await index.search(
            SearchQuery(
                guild_id=chat.guild_id, text="", channel_ids=[GENERAL], limit=100, offset=offset
            )
        )
        for offset in range(0, 300, 100)
    ]
    found = {hit.message_id: hit.snippet for page in pages for hit in page.hits}
    assert found == expected


async def test_deleting_a_channel_or_guild_purges_its_documents(
    indexer: indexer_app.IndexerContext, events_out: EventsOut, search_db: Database
) -> None:
    chat, other = Chat(), Chat()
    in_general = chat.message("purge candidate", channel_id=GENERAL)
    in_random = chat.message("purge candidate", channel_id=RANDOM)
    other_guild = other.message("purge candidate", channel_id=GENERAL)
    await events_out.send(chat.created(in_general), chat.created(in_random))
    await events_out.send(other.created(other_guild))

    async def indexed() -> bool:
        return await stored_rows(search_db, chat) == 2 and await stored_rows(search_db, other) == 1

    await eventually(indexed, what="three documents")
    channel_gone = events.build(
        "CHANNEL_DELETE",
        events.ChannelDeleted(id=RANDOM, guild_id=chat.guild_id),
        event_id=support.next_id(),
        scope="guild",
        scope_id=chat.guild_id,
        guild_id=chat.guild_id,
        channel_id=RANDOM,
    )
    await events_out.send(channel_gone)

    async def channel_purged() -> bool:
        return await stored_rows(search_db, chat) == 1

    await eventually(channel_purged, what="the channel's documents to go")
    guild_gone = events.build(
        "GUILD_DELETE",
        events.GuildDeleted(id=chat.guild_id),
        event_id=support.next_id(),
        scope="guild",
        scope_id=chat.guild_id,
        guild_id=chat.guild_id,
    )
    await events_out.send(guild_gone)

    async def guild_purged() -> bool:
        return await stored_rows(search_db, chat) == 0

    await eventually(guild_purged, what="the guild's documents to go")
    assert await stored_rows(search_db, other) == 1
