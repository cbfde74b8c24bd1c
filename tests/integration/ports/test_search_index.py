"""The SearchIndex contract, run against every adapter: PostgreSQL full-text search and
OpenSearch (a node started once per session, a fresh index layout per test). Both must find
the same ids, in the same order, for every query here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from gochat import ports
from gochat.adapters.opensearch import make_client, schema
from gochat.adapters.opensearch.search import OpenSearchSearchIndex
from gochat.adapters.postgres import migrations
from gochat.adapters.postgres.database import Database
from gochat.adapters.postgres.search import PostgresSearchIndex
from gochat.core import ids
from gochat.ports import SearchDocument, SearchIndex, SearchQuery

GUILD, OTHER_GUILD = 1000, 2000
GENERAL, RANDOM, SECRET = 11, 12, 13
ALICE, BOB = 101, 102
_gen = ids.SnowflakeGenerator(7)


@asynccontextmanager
async def postgres_index_at(dsn: str) -> AsyncIterator[SearchIndex]:
    await migrations.apply(dsn, migrations.default_directory())
    db = await Database.connect(dsn, service="test")
    try:
        yield PostgresSearchIndex(db)
    finally:
        await db.close()


@asynccontextmanager
async def opensearch_index_at(url: str, names: schema.Names) -> AsyncIterator[SearchIndex]:
    client = make_client(url)
    try:
        # refresh=true: a test searches right after writing.
        yield OpenSearchSearchIndex(client, names, refresh="true")
    finally:
        await client.close()


def postgres_index(request: pytest.FixtureRequest) -> AbstractAsyncContextManager[SearchIndex]:
    return postgres_index_at(request.getfixturevalue("pg_database"))


def opensearch_index(request: pytest.FixtureRequest) -> AbstractAsyncContextManager[SearchIndex]:
    url: str = request.getfixturevalue("opensearch_server").url
    return opensearch_index_at(url, request.getfixturevalue("opensearch_names"))


ADAPTERS: dict[str, Callable[[Any], AbstractAsyncContextManager[SearchIndex]]] = {
    "postgres": postgres_index,
    "opensearch": opensearch_index,
}


@pytest.fixture(params=sorted(ADAPTERS))
def adapter_name(request: pytest.FixtureRequest) -> str:
    # The adapter's servers are asked for from here (synchronously): pytest-asyncio sets up
    # async fixtures requested this way, and a server starts only when its adapter runs.
    fixtures = {"postgres": ("pg_database",), "opensearch": ("opensearch_names",)}
    for name in fixtures[request.param]:
        request.getfixturevalue(name)
    return str(request.param)


@pytest.fixture
async def index(request: pytest.FixtureRequest, adapter_name: str) -> AsyncIterator[SearchIndex]:
    async with ADAPTERS[adapter_name](request) as adapter:
        yield adapter


def doc(
    content: str,
    *,
    message_id: int | None = None,
    channel_id: int = GENERAL,
    guild_id: int | None = GUILD,
    author_id: int = ALICE,
    mention_ids: tuple[int, ...] = (),
    has_attachment: bool = False,
    version: int = 0,
) -> SearchDocument:
    message_id = message_id or _gen.next_id()
    return SearchDocument(
        message_id=message_id,
        guild_id=guild_id,
        channel_id=channel_id,
        author_id=author_id,
        content=content,
        mention_ids=mention_ids,
        created_at=datetime.now(UTC),
        has_attachment=has_attachment,
        version=version,
    )


def query(text: str, **overrides: object) -> SearchQuery:
    fields: dict[str, object] = {
        "guild_id": GUILD,
        "text": text,
        "channel_ids": [GENERAL, RANDOM, SECRET],
    }
    fields.update(overrides)
    return SearchQuery(**fields)  # type: ignore[arg-type]


async def test_upserted_document_is_found_with_marked_snippet(index: SearchIndex) -> None:
    posted = doc("the deploy finished at noon")
    await index.upsert([posted])
    result = await index.search(query("deploy"))
    assert result.total == 1
    assert result.hits[0].message_id == posted.message_id
    assert result.hits[0].channel_id == GENERAL
    assert "<mark>deploy</mark>" in result.hits[0].snippet


async def test_words_match_by_stem(index: SearchIndex) -> None:
    await index.upsert([doc("we deployed the new build")])
    assert (await index.search(query("deploying"))).total == 1


async def test_upsert_twice_keeps_one_document(index: SearchIndex) -> None:
    posted = doc("hello again", version=5)
    await index.upsert([posted])
    await index.upsert([posted])
    result = await index.search(query("hello"))
    assert [hit.message_id for hit in result.hits] == [posted.message_id]


async def test_newer_version_replaces_content_and_older_is_ignored(index: SearchIndex) -> None:
    message_id = _gen.next_id()
    await index.upsert([doc("first draft", message_id=message_id, version=1)])
    await index.upsert([doc("final wording", message_id=message_id, version=3)])
    await index.upsert([doc("second draft", message_id=message_id, version=2)])
    assert (await index.search(query("draft"))).total == 0
    assert (await index.search(query("wording"))).total == 1


async def test_newest_version_wins_within_one_batch(index: SearchIndex) -> None:
    message_id = _gen.next_id()
    await index.upsert(
        [
            doc("newest text", message_id=message_id, version=9),
            doc("older text", message_id=message_id, version=4),
        ]
    )
    assert (await index.search(query("older"))).total == 0
    assert (await index.search(query("newest"))).total == 1


async def test_deleted_document_disappears(index: SearchIndex) -> None:
    kept, removed = doc("keep this note"), doc("remove this note")
    await index.upsert([kept, removed])
    await index.delete([removed.message_id])
    result = await index.search(query("note"))
    assert [hit.message_id for hit in result.hits] == [kept.message_id]


async def test_upsert_after_delete_does_not_resurrect(index: SearchIndex) -> None:
    posted = doc("ephemeral secret", version=1)
    await index.upsert([posted])
    await index.delete([posted.message_id, posted.message_id])
    await index.upsert([posted])
    await index.upsert([doc("ephemeral edit", message_id=posted.message_id, version=99)])
    assert (await index.search(query("ephemeral"))).total == 0


async def test_delete_before_create_leaves_tombstone(index: SearchIndex) -> None:
    message_id = _gen.next_id()
    await index.delete([message_id])
    await index.upsert([doc("arrived late", message_id=message_id, version=1)])
    assert (await index.search(query("late"))).total == 0


async def test_only_given_channels_and_guild_are_searched(index: SearchIndex) -> None:
    visible = doc("launch plan", channel_id=GENERAL)
    hidden = doc("launch plan", channel_id=SECRET)
    elsewhere = doc("launch plan", guild_id=OTHER_GUILD)
    direct = doc("launch plan", guild_id=None)
    await index.upsert([visible, hidden, elsewhere, direct])
    result = await index.search(query("launch", channel_ids=[GENERAL, RANDOM]))
    assert [hit.message_id for hit in result.hits] == [visible.message_id]


async def test_author_mentions_before_after_filters(index: SearchIndex) -> None:
    first = doc("standup notes", author_id=ALICE)
    second = doc("standup notes", author_id=BOB, mention_ids=(ALICE,))
    third = doc("standup notes", author_id=ALICE, mention_ids=(BOB, ALICE))
    await index.upsert([first, second, third])

    async def found(**filters: object) -> list[int]:
        return [hit.message_id for hit in (await index.search(query("standup", **filters))).hits]

    assert await found(author_id=ALICE) == [third.message_id, first.message_id]
    assert await found(mentions=ALICE) == [third.message_id, second.message_id]
    assert await found(mentions=BOB) == [third.message_id]
    assert await found(before=third.message_id) == [second.message_id, first.message_id]
    assert await found(after=first.message_id) == [third.message_id, second.message_id]
    assert await found(after=first.message_id, before=third.message_id) == [second.message_id]


async def test_has_attachment_finds_only_messages_with_files_as_of_their_newest_version(
    index: SearchIndex,
) -> None:
    plain = doc("design review")
    with_file = doc("design review", has_attachment=True, version=1)
    file_removed = doc("design review", has_attachment=True, version=1)
    await index.upsert([plain, with_file, file_removed])
    # An edit that drops the file (newer version) takes the message out; a stale redelivery
    # of the version with the file does not bring it back.
    await index.upsert([doc("design review", message_id=file_removed.message_id, version=2)])
    await index.upsert([file_removed])

    async def found(text: str, **filters: object) -> list[int]:
        return [hit.message_id for hit in (await index.search(query(text, **filters))).hits]

    assert await found("design", has_attachment=True) == [with_file.message_id]
    assert await found("", has_attachment=True) == [with_file.message_id]
    everything = [file_removed.message_id, with_file.message_id, plain.message_id]
    assert await found("design") == everything
    await index.delete([with_file.message_id])
    assert await found("", has_attachment=True) == []


async def test_pages_are_newest_first_without_overlap(index: SearchIndex) -> None:
    posted = [doc(f"report number {n}") for n in range(23)]
    await index.upsert(posted)
    pages = [
        await index.search(query("report", limit=10, offset=offset)) for offset in (0, 10, 20, 30)
    ]
    assert [page.total for page in pages] == [23, 23, 23, 23]
    seen = [hit.message_id for page in pages for hit in page.hits]
    assert seen == sorted((d.message_id for d in posted), reverse=True)
    assert pages[3].hits == []


async def test_blank_text_lists_filtered_documents_with_plain_snippet(index: SearchIndex) -> None:
    mine = doc("x" * 300 + " <tail>", author_id=BOB)
    await index.upsert([mine, doc("someone else", author_id=ALICE)])
    result = await index.search(query("  ", author_id=BOB))
    assert [hit.message_id for hit in result.hits] == [mine.message_id]
    assert result.hits[0].snippet == "x" * 200 + "…"


async def test_snippet_escapes_html_and_marks_only_matches(index: SearchIndex) -> None:
    await index.upsert([doc('<b onclick="x">List<String></b> & <script>alert(1)</script> \ue000!')])
    result = await index.search(query("string alert"))
    # Tag-like text is kept (the parser would drop it) and escaped; <mark> is the only markup.
    assert (
        'onclick="x"&gt;List&lt;<mark>String</mark>&gt;&lt;/b&gt; &amp; '
        "&lt;script&gt;<mark>alert</mark>(1)&lt;/script"
    ) in result.hits[0].snippet
    assert "\ue000" not in result.hits[0].snippet


async def test_web_search_syntax_phrases_and_exclusions(index: SearchIndex) -> None:
    red, blue = doc("red green lamp"), doc("blue green lamp")
    await index.upsert([red, blue])
    assert [h.message_id for h in (await index.search(query("lamp -red"))).hits] == [
        blue.message_id
    ]
    assert [h.message_id for h in (await index.search(query('"red green"'))).hits] == [
        red.message_id
    ]


async def test_nul_characters_are_stored_without_failing(index: SearchIndex) -> None:
    await index.upsert([doc("zero\x00byte payload")])
    assert (await index.search(query("payload"))).total == 1


async def test_empty_channel_list_finds_nothing(index: SearchIndex) -> None:
    await index.upsert([doc("anything at all")])
    assert (await index.search(query("anything", channel_ids=[]))).total == 0


async def test_purge_removes_a_channel_or_a_guild(index: SearchIndex) -> None:
    general, random = doc("purge me", channel_id=GENERAL), doc("purge me", channel_id=RANDOM)
    tombstoned = doc("purge me", channel_id=RANDOM)
    elsewhere = doc("purge me", guild_id=OTHER_GUILD)
    await index.upsert([general, random, tombstoned, elsewhere])
    await index.delete([tombstoned.message_id])

    await index.purge(channel_id=RANDOM)
    assert [h.message_id for h in (await index.search(query("purge"))).hits] == [general.message_id]
    await index.purge(guild_id=GUILD)
    assert (await index.search(query("purge"))).total == 0
    assert (await index.search(query("purge", guild_id=OTHER_GUILD))).total == 1


async def test_purge_needs_exactly_one_scope(index: SearchIndex) -> None:
    with pytest.raises(ValueError):
        await index.purge()
    with pytest.raises(ValueError):
        await index.purge(guild_id=GUILD, channel_id=GENERAL)


async def test_total_is_exact_up_to_the_limit_then_capped(index: SearchIndex) -> None:
    posted = [doc("capped common word") for _ in range(ports.SEARCH_TOTAL_LIMIT + 25)]
    for start in range(0, len(posted), 2000):
        await index.upsert(posted[start : start + 2000])
    result = await index.search(query("common", limit=5))
    assert result.total == ports.SEARCH_TOTAL_LIMIT
    assert [h.message_id for h in result.hits] == [d.message_id for d in posted[::-1][:5]]
    assert (await index.search(query("common", author_id=BOB))).total == 0


SAME_RESULT_QUERIES = [
    "deploy",
    "deploying builds",
    "the deploy",
    '"release notes"',
    "notes -release",
    "lamp or deploy",
    "alice's",
    "List<String>",
    "running runner runs",
    "a an the",
    "-deploy",
    "café",
]


async def test_both_backends_find_the_same_ids_in_the_same_order(
    pg_database: str, opensearch_server: Any, opensearch_names: schema.Names
) -> None:
    texts = [
        "we deployed the new build",
        "deploying builds on friday",
        "release notes for the deploy",
        "notes about the release",
        "notes without it",
        "red green lamp",
        "alice's notes",
        "<b>List<String></b> generics",
        "the runner was running; she runs",
        "café au lait",
        "nothing in common",
    ]
    posted = [doc(text, author_id=(ALICE, BOB)[n % 2]) for n, text in enumerate(texts)]
    results: dict[str, list[list[int]]] = {}
    async with (
        postgres_index_at(pg_database) as pg,
        opensearch_index_at(opensearch_server.url, opensearch_names) as os_index,
    ):
        for name, adapter in (("postgres", pg), ("opensearch", os_index)):
            await adapter.upsert(posted)
            results[name] = [
                [hit.message_id for hit in (await adapter.search(query(text))).hits]
                for text in SAME_RESULT_QUERIES
            ]
    for text, on_pg, on_os in zip(
        SAME_RESULT_QUERIES, results["postgres"], results["opensearch"], strict=True
    ):
        assert on_pg == on_os, text
    assert any(results["postgres"])  # the queries do find something


async def test_opensearch_finds_cjk_words_inside_unspaced_text(
    opensearch_server: Any, opensearch_names: schema.Names
) -> None:
    tokyo, beijing = doc("東京タワーに行きました"), doc("我们明天去北京开会")
    async with opensearch_index_at(opensearch_server.url, opensearch_names) as index:
        await index.upsert(
            [tokyo, beijing, doc("\uff26\uff35\uff2c\uff2c\uff37\uff29\uff24\uff34\uff28 letters")]
        )  # fullwidth Latin
        for text, expected in (("東京", tokyo), ("タワー", tokyo), ("北京", beijing)):
            result = await index.search(query(text))
            assert [hit.message_id for hit in result.hits] == [expected.message_id], text
        assert (await index.search(query("fullwidth"))).total == 1
