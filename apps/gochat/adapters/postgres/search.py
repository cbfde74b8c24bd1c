"""The PostgreSQL full-text SearchIndex: the embedded default (table `search_documents`).

Matching uses `websearch_to_tsquery('english', text)`: words are stemmed, "quoted phrases",
`or` and `-excluded` work as in a web search box. Results are newest first. Snippets come from
`ts_headline`; the message text is HTML-escaped and `<mark>…</mark>` is the only markup, so a
client may render a snippet as HTML.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from gochat.adapters.postgres.database import Database
from gochat.ports import (
    SEARCH_TOTAL_LIMIT,
    SearchDocument,
    SearchHit,
    SearchQuery,
    SearchResult,
)

TEXT_CONFIG = "english"
# Private-use characters mark matches inside ts_headline; `search_text()` (SQL, migration 0002)
# strips them from the text first and maps < > & to control characters the parser sees as blanks,
# so after escaping each of these can only be ours.
_START, _STOP = "\ue000", "\ue001"
_UNMAP = {"\x01": "&lt;", "\x02": "&gt;", "\x03": "&amp;", _START: "<mark>", _STOP: "</mark>"}
_HEADLINE_OPTIONS = (
    f"StartSel={_START}, StopSel={_STOP}, MaxWords=30, MinWords=12, ShortWord=2, "
    'MaxFragments=2, FragmentDelimiter=" … "'
)
_PLAIN_SNIPPET_CHARS = 200

# One statement per batch (arrays unnested server-side): a third of the time of executemany.
# mention_ids travel as array literals because unnest() cannot yield arrays of arrays.
_UPSERT = """
INSERT INTO search_documents AS d
       (message_id, guild_id, channel_id, author_id, content, mention_ids, created_at, version,
        has_attachment)
SELECT message_id, guild_id, channel_id, author_id, content, mention_ids::bigint[], created_at,
       version, has_attachment
  FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[],
              $7::timestamptz[], $8::bigint[], $9::boolean[])
       AS r (message_id, guild_id, channel_id, author_id, content, mention_ids, created_at,
               version, has_attachment)
ON CONFLICT (message_id) DO UPDATE
   SET guild_id = EXCLUDED.guild_id, channel_id = EXCLUDED.channel_id,
       author_id = EXCLUDED.author_id, content = EXCLUDED.content,
       mention_ids = EXCLUDED.mention_ids, created_at = EXCLUDED.created_at,
       version = EXCLUDED.version, has_attachment = EXCLUDED.has_attachment
 WHERE NOT d.deleted AND d.version <= EXCLUDED.version
"""
# Upsert and delete contend on the same primary key, so a concurrent edit and delete serialize
# and the tombstone always wins.
_DELETE = """
INSERT INTO search_documents (message_id, deleted)
SELECT id, true FROM unnest($1::bigint[]) AS id
ON CONFLICT (message_id) DO UPDATE
   SET deleted = true, content = '', mention_ids = '{}', has_attachment = false
"""


class PostgresSearchIndex:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def upsert(self, documents: Sequence[SearchDocument]) -> None:
        # Newest per message and sorted: one statement may not touch a row twice, and a fixed
        # lock order keeps two indexer replicas from deadlocking.
        newest = _newest_per_message(documents)
        if not newest:
            return
        columns = list(zip(*(_row(doc) for doc in newest), strict=True))
        async with self._db.transaction("search_upsert") as conn:
            await conn.execute(_UPSERT, *(list(column) for column in columns))

    async def delete(self, message_ids: Sequence[int]) -> None:
        if not message_ids:
            return
        async with self._db.transaction("search_delete") as conn:
            # Sorted and distinct: one statement may not touch a row twice, and a fixed lock
            # order keeps two indexer replicas from deadlocking.
            await conn.execute(_DELETE, sorted(set(message_ids)))

    async def purge(self, *, guild_id: int | None = None, channel_id: int | None = None) -> None:
        if (guild_id is None) == (channel_id is None):
            raise ValueError("purge takes exactly one of guild_id, channel_id")
        # Tombstones go too: a message of a deleted channel cannot come back through the API.
        column, value = (
            ("guild_id", guild_id) if guild_id is not None else ("channel_id", channel_id)
        )
        async with self._db.transaction("search_purge") as conn:
            await conn.execute(f"DELETE FROM search_documents WHERE {column} = $1", value)

    async def search(self, query: SearchQuery) -> SearchResult:
        if not query.channel_ids:
            return SearchResult(total=0, hits=[])
        where, args = _conditions(query)
        page_args = [*args, query.limit, query.offset]
        page_sql = _page_sql(where, arg_count=len(args), has_text=bool(query.text.strip()))
        async with self._db.transaction("search_messages") as conn:
            # Planned with this query's values every time. A pooled connection reuses its
            # prepared statements, and from the sixth run PostgreSQL may keep a generic plan,
            # which assumes a text match of 1,000 rows: for a common word and one author it
            # reads every posting of the word instead of the author's index, 10-30x slower
            # (bench/dataplane/FINDINGS.md). Local: reset at commit.
            await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            total = await conn.fetchval(
                f"SELECT count(*) FROM (SELECT FROM search_documents d WHERE {where} "
                f"LIMIT {SEARCH_TOTAL_LIMIT}) AS capped",
                *args,
            )
            if total <= query.offset:
                return SearchResult(total=total, hits=[])
            rows = await conn.fetch(page_sql, *page_args)
        return SearchResult(
            total=total,
            hits=[
                SearchHit(
                    message_id=r["message_id"],
                    channel_id=r["channel_id"],
                    snippet=_snippet(r["headline"], r["content"]),
                )
                for r in rows
            ],
        )


def _newest_per_message(documents: Sequence[SearchDocument]) -> list[SearchDocument]:
    newest: dict[int, SearchDocument] = {}
    for doc in documents:
        kept = newest.get(doc.message_id)
        if kept is None or doc.version >= kept.version:
            newest[doc.message_id] = doc
    return [newest[message_id] for message_id in sorted(newest)]


def _row(doc: SearchDocument) -> tuple[Any, ...]:
    # PostgreSQL text cannot hold NUL; nobody searches for it.
    content = doc.content.replace("\x00", "")
    return (
        doc.message_id,
        doc.guild_id,
        doc.channel_id,
        doc.author_id,
        content,
        "{" + ",".join(str(user_id) for user_id in doc.mention_ids) + "}",
        doc.created_at,
        doc.version,
        doc.has_attachment,
    )


def _conditions(query: SearchQuery) -> tuple[str, list[Any]]:
    """The WHERE clause and its arguments; the query text, when present, is always $3."""
    args: list[Any] = [query.guild_id, list(query.channel_ids)]
    parts = ["NOT d.deleted", "d.guild_id = $1", "d.channel_id = ANY($2::bigint[])"]

    def add(sql: str, value: Any) -> None:
        args.append(value)
        parts.append(sql.replace("$?", f"${len(args)}"))

    if query.text.strip():
        add(f"d.body @@ websearch_to_tsquery('{TEXT_CONFIG}', $?)", query.text.strip())
    if query.author_id is not None:
        add("d.author_id = $?", query.author_id)
    if query.mentions is not None:
        add("d.mention_ids @> ARRAY[$?::bigint]", query.mentions)
    if query.has_attachment:
        parts.append("d.has_attachment")
    if query.before is not None:
        add("d.message_id < $?", query.before)
    if query.after is not None:
        add("d.message_id > $?", query.after)
    return " AND ".join(parts), args


def _page_sql(where: str, *, arg_count: int, has_text: bool) -> str:
    limit, offset = f"${arg_count + 1}", f"${arg_count + 2}"
    headline = "NULL"
    if has_text:
        headline = (
            f"ts_headline('{TEXT_CONFIG}', search_text(page.content), "
            f"websearch_to_tsquery('{TEXT_CONFIG}', $3), '{_HEADLINE_OPTIONS}')"
        )
    # Headlines are costly: compute them for the page only, after sorting and limiting.
    return f"""
        SELECT page.message_id, page.channel_id, page.content, {headline} AS headline
          FROM (SELECT d.message_id, d.channel_id, d.content FROM search_documents d
                 WHERE {where} ORDER BY d.message_id DESC LIMIT {limit} OFFSET {offset}) AS page
         ORDER BY page.message_id DESC
    """


def _snippet(headline: str | None, content: str) -> str:
    if headline is None:
        plain = content[:_PLAIN_SNIPPET_CHARS]
        return html.escape(plain + ("…" if len(content) > len(plain) else ""), quote=False)
    escaped = html.escape(headline, quote=False)
    return "".join(_UNMAP.get(char, char) for char in escaped)
