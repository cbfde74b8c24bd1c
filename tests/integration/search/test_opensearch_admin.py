"""`gochat migrate` creating the OpenSearch layout, and `gochat search reindex` rebuilding it from
the message store, against a real node (one per session, an index prefix per test)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from gochat import migrate, search_admin
from gochat.adapters.opensearch import make_client, reindex, schema
from gochat.adapters.opensearch.search import OpenSearchSearchIndex
from gochat.adapters.postgres import database, migrations
from gochat.adapters.postgres.messages import PostgresMessageStore
from gochat.ports import AttachmentRecord, MessageRecord, SearchDocument, SearchQuery
from tests.fixtures import opensearch as opensearch_fixtures
from tests.integration.ports import message_world
from tests.integration.ports.message_world import GENERAL, GUILD, RANDOM


def _env(monkeypatch: pytest.MonkeyPatch, dsn: str, url: str, prefix: str) -> None:
    for key, value in {
        "GOCHAT_PG_DSN": dsn,
        "GOCHAT_SEARCH_BACKEND": "opensearch",
        "GOCHAT_OPENSEARCH_URL": url,
        "GOCHAT_OPENSEARCH_INDEX_PREFIX": prefix,
        "GOCHAT_LOG_FORMAT": "text",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GOCHAT_CONFIG", raising=False)


async def _layout(url: str, names: schema.Names) -> dict[str, Any]:
    client = make_client(url)
    try:
        template = await client.indices.get_index_template(name=names.template)
        return {
            "template": template["index_templates"][0]["index_template"],
            "read": await schema.alias_targets(client, names.read_alias),
            "write": await schema.alias_targets(client, names.write_alias),
        }
    finally:
        await client.close()


def test_migrate_creates_template_index_and_aliases_once(
    opensearch_server: opensearch_fixtures.OpenSearchServer,
    pg_database: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    monkeypatch.chdir(tmp_path)
    names = schema.Names(opensearch_fixtures.new_prefix())
    _env(monkeypatch, pg_database, opensearch_server.url, names.prefix)
    try:
        assert migrate.main([]) == 0
        assert migrate.main([]) == 0  # idempotent: no second index, aliases unchanged
        layout = asyncio.run(_layout(opensearch_server.url, names))
        assert layout["read"] == layout["write"] == [names.index(1)]
        settings = layout["template"]["template"]["settings"]["index"]
        assert set(settings["analysis"]["analyzer"]) == {"gochat_text", "gochat_cjk"}
        assert layout["template"]["index_patterns"] == [names.pattern]
    finally:
        asyncio.run(_drop(opensearch_server.url, names))


def test_migrate_without_opensearch_url_names_the_key(
    pg_database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    _env(monkeypatch, pg_database, "", "x")
    monkeypatch.delenv("GOCHAT_OPENSEARCH_URL")
    assert migrate.main([]) == 2
    assert "opensearch_url: required when search_backend is opensearch" in capsys.readouterr().err


async def _drop(url: str, names: schema.Names) -> None:
    client = make_client(url)
    try:
        await schema.drop_all(client, names)
    finally:
        await client.close()


@pytest.fixture
async def message_db(pg_database: str) -> AsyncIterator[database.Database]:
    await migrations.apply(pg_database, migrations.default_directory())
    db = await database.Database.connect(pg_database, service="test")
    try:
        await message_world.create(db)
        yield db
    finally:
        await db.close()


async def _channels() -> AsyncIterator[int]:
    for channel_id in (GENERAL, RANDOM):
        yield channel_id


class LiveEventsDuringCopy:
    """A message store whose first read lets live events through the index first: the copy
    then writes stale states of those messages, which must lose to the live ones."""

    def __init__(self, store: PostgresMessageStore, on_first_read: Any) -> None:
        self._store = store
        self._on_first_read = on_first_read

    async def list(self, channel_id: int, **kwargs: Any) -> list[MessageRecord]:
        page = await self._store.list(channel_id, **kwargs)
        if self._on_first_read is not None:
            hook, self._on_first_read = self._on_first_read, None
            await hook()
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


async def test_reindex_builds_a_new_index_and_swaps_the_aliases_atomically(
    opensearch_server: opensearch_fixtures.OpenSearchServer,
    opensearch_names: schema.Names,
    message_db: database.Database,
) -> None:
    store = PostgresMessageStore(message_db)
    posted = [
        message_world.new_message(f"rollout step {n}", channel_id=(GENERAL, RANDOM)[n % 2])
        for n in range(250)
    ]
    pdf = AttachmentRecord(id=1, filename="a.pdf", content_type="application/pdf", size=3, key="k")
    posted[2] = with_file = dataclasses.replace(posted[2], attachments=(pdf,))
    for record in posted:
        await store.create(record, events=[])
    client = make_client(opensearch_server.url)
    live = OpenSearchSearchIndex(client, opensearch_names, refresh="true")
    deleted, edited = posted[0], posted[1]

    async def live_events() -> None:
        # The write alias already names the new index: these land there, with event ids as
        # versions (larger than the message ids the copy uses).
        await live.delete([deleted.id])
        await live.upsert([_doc(edited, "rollout rewritten", version=edited.id + 1)])

    progress: list[reindex.Progress] = []
    try:
        report = await reindex.reindex(
            client,
            opensearch_names,
            LiveEventsDuringCopy(store, live_events),  # type: ignore[arg-type]
            _channels(),
            replicas=0,
            delete_old=True,
            progress=progress.append,
            progress_every=100,
        )
        assert report.new_index == opensearch_names.index(2)
        assert report.old_index == opensearch_names.index(1)
        assert (report.documents, report.channels) == (250, 2)
        assert [p.documents for p in progress][-1] == 250
        assert await schema.alias_targets(client, opensearch_names.read_alias) == [report.new_index]
        assert await schema.alias_targets(client, opensearch_names.write_alias) == [
            report.new_index
        ]
        assert not await client.indices.exists(index=opensearch_names.index(1))
        settings = await client.indices.get_settings(index=report.new_index)
        index_settings = settings[report.new_index]["settings"]["index"]
        assert index_settings["number_of_replicas"] == "0"
        assert "refresh_interval" not in index_settings  # restored to the default

        async def ids(text: str) -> list[int]:
            query = SearchQuery(guild_id=GUILD, text=text, channel_ids=[GENERAL, RANDOM], limit=300)
            return [hit.message_id for hit in (await live.search(query)).hits]

        expected = sorted((r.id for r in posted if r is not deleted), reverse=True)
        assert await ids("rollout") == expected
        assert await ids("rewritten") == [edited.id]
        assert await ids("step") == [i for i in expected if i != edited.id]
        files = SearchQuery(guild_id=GUILD, text="", channel_ids=[GENERAL], has_attachment=True)
        assert [hit.message_id for hit in (await live.search(files)).hits] == [with_file.id]
    finally:
        await client.close()


async def test_a_failed_reindex_leaves_the_old_index_in_use(
    opensearch_server: opensearch_fixtures.OpenSearchServer,
    opensearch_names: schema.Names,
    message_db: database.Database,
) -> None:
    store = PostgresMessageStore(message_db)
    await store.create(message_world.new_message("kept searchable"), events=[])

    async def broken() -> None:
        raise RuntimeError("message store went away")

    client = make_client(opensearch_server.url)
    try:
        with pytest.raises(RuntimeError, match="went away"):
            await reindex.reindex(
                client,
                opensearch_names,
                LiveEventsDuringCopy(store, broken),
                _channels(),  # type: ignore[arg-type]
            )
        first = opensearch_names.index(1)
        assert await schema.alias_targets(client, opensearch_names.read_alias) == [first]
        assert await schema.alias_targets(client, opensearch_names.write_alias) == [first]
        assert not await client.indices.exists(index=opensearch_names.index(2))
    finally:
        await client.close()


def test_search_reindex_command_reports_progress_and_result(
    opensearch_server: opensearch_fixtures.OpenSearchServer,
    pg_database: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    capsys: Any,
) -> None:
    monkeypatch.chdir(tmp_path)
    names = schema.Names(opensearch_fixtures.new_prefix())
    _env(monkeypatch, pg_database, opensearch_server.url, names.prefix)
    monkeypatch.setattr(reindex, "BULK_DOCUMENTS", 10)

    async def seed() -> None:
        await migrations.apply(pg_database, migrations.default_directory())
        db = await database.Database.connect(pg_database, service="test")
        try:
            await message_world.create(db)
            store = PostgresMessageStore(db)
            for n in range(12):
                await store.create(message_world.new_message(f"seeded {n}"), events=[])
        finally:
            await db.close()

    try:
        asyncio.run(seed())
        assert migrate.main([]) == 0
        capsys.readouterr()
        assert search_admin.main(["reindex", "--replicas", "0", "--delete-old"]) == 0
        out, err = capsys.readouterr()
        assert f"reindexed 12 messages of 2 channels into {names.index(2)}" in out
        assert f"was {names.index(1)}, deleted" in out
        assert "indexed 12 messages from 2 channels" in err
    finally:
        asyncio.run(_drop(opensearch_server.url, names))


def _doc(record: MessageRecord, content: str, *, version: int) -> SearchDocument:
    return SearchDocument(
        message_id=record.id,
        guild_id=record.guild_id,
        channel_id=record.channel_id,
        author_id=record.author_id,
        content=content,
        mention_ids=(),
        created_at=datetime.now(UTC),
        version=version,
    )


async def test_migrate_adds_a_new_field_to_an_index_created_before_it(
    opensearch_server: opensearch_fixtures.OpenSearchServer,
) -> None:
    """An index from an older release (no `has_attachment` in its strict mapping) takes the
    field on the next migrate, without a reindex: documents with it are accepted and found."""
    names = schema.Names(opensearch_fixtures.new_prefix())
    client = make_client(opensearch_server.url)
    try:
        old = schema.template_body(names, replicas=0)
        del old["template"]["mappings"]["properties"]["has_attachment"]
        await client.indices.put_index_template(name=names.template, body=old)
        await client.indices.create(index=names.index(1))
        await client.indices.update_aliases(
            body={
                "actions": [
                    {"add": {"index": names.index(1), "alias": names.read_alias}},
                    {
                        "add": {
                            "index": names.index(1),
                            "alias": names.write_alias,
                            "is_write_index": True,
                        }
                    },
                ]
            }
        )
        assert await schema.ensure(client, names, replicas=0) == names.index(1)
        mapping = await client.indices.get_mapping(index=names.index(1))
        fields = mapping[names.index(1)]["mappings"]["properties"]
        assert fields["has_attachment"] == {"type": "boolean"}
        index = OpenSearchSearchIndex(client, names, refresh="true")
        posted = SearchDocument(
            message_id=message_world.new_message().id,
            guild_id=GUILD,
            channel_id=GENERAL,
            author_id=1,
            content="slides attached",
            mention_ids=(),
            created_at=datetime.now(UTC),
            has_attachment=True,
            version=1,
        )
        await index.upsert([posted])
        found = await index.search(
            SearchQuery(guild_id=GUILD, text="", channel_ids=[GENERAL], has_attachment=True)
        )
        assert [hit.message_id for hit in found.hits] == [posted.message_id]
    finally:
        await schema.drop_all(client, names)
        await client.close()
