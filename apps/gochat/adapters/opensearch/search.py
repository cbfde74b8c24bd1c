"""The OpenSearch SearchIndex (`search_backend: opensearch`), through the async client.

Writes go through the bulk API to the write alias, reads to the read alias (schema.py).
- Document id = message id, `version_type: external` with the event id as version: a
  redelivered or reordered older event is refused by the index (a version conflict), which is
  what the port asks for, so such a conflict counts as success.
- A delete is a tombstone: a document `{"deleted": true}` at the highest version there is, so
  no create or edit arriving later (whatever its version) can bring the message back, and it
  stays unlike a real delete, whose version OpenSearch forgets after `index.gc_deletes` (60 s).
- Every item of a bulk response is checked: any failure other than a version conflict raises
  `BulkError` naming each failed id and its reason, so the caller does not acknowledge the
  events (items that did succeed are harmless to write again).
- Queries take PostgreSQL's `websearch_to_tsquery` syntax (words all required, "phrases",
  `or`, `-excluded`) through `simple_query_string`; results newest first. Highlights use
  private-use characters as tags, then the text is HTML-escaped and they become `<mark>`, so a
  snippet has the same form as PostgreSQL's.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

from opensearchpy import AsyncOpenSearch, ConnectionError, TransportError
from prometheus_client import Counter as MetricCounter

from gochat.adapters.opensearch.schema import Names
from gochat.core import errors
from gochat.ports import SEARCH_TOTAL_LIMIT, SearchDocument, SearchHit, SearchQuery, SearchResult

log = logging.getLogger(__name__)

TOMBSTONE_VERSION = 2**63 - 2  # above every snowflake; below OpenSearch's own sentinels
_START, _STOP = "\ue000", "\ue001"
_STRIP = str.maketrans({_START: None, _STOP: None, "\x00": None})
_PLAIN_SNIPPET_CHARS = 200
_FRAGMENT_CHARS = 160
_QUERY_FLAGS = "AND|OR|NOT|PHRASE|WHITESPACE"

BULK_FAILED_ITEMS = MetricCounter(
    "gochat_search_bulk_failed_items_total",
    "Bulk items OpenSearch refused (version conflicts of stale events excluded), by reason; "
    "their events are not acknowledged and come back.",
    ["reason"],
)

Refresh = Literal["false", "true", "wait_for"]


class BulkError(RuntimeError):
    """Some items of a bulk request failed; `failures` maps message id to the reason."""

    def __init__(self, failures: dict[int, str]) -> None:
        self.failures = failures
        reasons = Counter(failures.values())
        super().__init__(
            f"{len(failures)} bulk item(s) failed: "
            + ", ".join(f"{reason} x{count}" for reason, count in reasons.most_common())
        )


class OpenSearchSearchIndex:
    def __init__(
        self, client: AsyncOpenSearch, names: Names | None = None, *, refresh: Refresh = "false"
    ) -> None:
        """`refresh`: "false" in production (documents show within the refresh interval),
        "true" in tests that search right after writing."""
        self._client = client
        self.names = names or Names()
        self._refresh = refresh

    async def ping(self) -> None:
        """Raises unless the cluster answers and the write alias takes writes (no write block)."""
        health = await self._client.cluster.health(index=self.names.write_alias)
        if health.get("status") not in {"green", "yellow"}:
            raise ConnectionError(f"search index health is {health.get('status')}")
        settings = await self._client.indices.get_settings(
            index=self.names.write_alias, name="index.blocks.*"
        )
        for index, body in settings.items():
            blocks = body.get("settings", {}).get("index", {}).get("blocks", {})
            if any(str(blocks.get(name)).lower() == "true" for name in ("write", "read_only")):
                raise ConnectionError(f"index {index} is blocked for writes")

    async def upsert(self, documents: Sequence[SearchDocument]) -> None:
        await self._bulk(index_lines(documents))

    async def delete(self, message_ids: Sequence[int]) -> None:
        lines: list[dict[str, Any]] = []
        for message_id in dict.fromkeys(message_ids):
            lines.append(
                {
                    "index": {
                        "_id": str(message_id),
                        "version": TOMBSTONE_VERSION,
                        "version_type": "external_gte",
                    }
                }
            )
            lines.append({"message_id": message_id, "deleted": True})
        await self._bulk(lines)

    async def purge(self, *, guild_id: int | None = None, channel_id: int | None = None) -> None:
        if (guild_id is None) == (channel_id is None):
            raise ValueError("purge takes exactly one of guild_id, channel_id")
        field, value = (
            ("guild_id", guild_id) if guild_id is not None else ("channel_id", channel_id)
        )
        # Both aliases: during a reindex they name different indices. Tombstones carry no
        # channel or guild and stay, so a late event of a purged message still finds one.
        await self._client.delete_by_query(
            index=f"{self.names.read_alias},{self.names.write_alias}",
            body={"query": {"term": {field: value}}},
            params={
                "conflicts": "proceed",
                "refresh": "true" if self._refresh != "false" else "false",
            },
        )

    async def search(self, query: SearchQuery) -> SearchResult:
        if not query.channel_ids:
            return SearchResult(total=0, hits=[])
        text = query.text.strip()
        filters: list[dict[str, Any]] = [
            {"term": {"guild_id": query.guild_id}},
            {"terms": {"channel_id": list(query.channel_ids)}},
        ]
        if query.author_id is not None:
            filters.append({"term": {"author_id": query.author_id}})
        if query.mentions is not None:
            filters.append({"term": {"mention_ids": query.mentions}})
        if query.has_attachment:
            filters.append({"term": {"has_attachment": True}})
        bounds = {}
        if query.before is not None:
            bounds["lt"] = query.before
        if query.after is not None:
            bounds["gt"] = query.after
        if bounds:
            filters.append({"range": {"message_id": bounds}})
        boolean: dict[str, Any] = {
            "filter": filters,
            "must_not": [{"term": {"deleted": True}}],
        }
        matching: dict[str, Any] | None = None
        if text:
            matching = {
                "simple_query_string": {
                    "query": websearch_to_simple(text),
                    "fields": ["content", "content.cjk"],
                    "default_operator": "and",
                    "flags": _QUERY_FLAGS,
                }
            }
            boolean["must"] = [matching]
        # Deep pages past the total cap are empty (as on PostgreSQL); OpenSearch refuses them.
        size = max(0, min(query.limit, SEARCH_TOTAL_LIMIT - query.offset))
        body: dict[str, Any] = {
            "query": {"bool": boolean},
            "sort": [{"message_id": "desc"}],
            "track_total_hits": SEARCH_TOTAL_LIMIT,
            "from": min(query.offset, SEARCH_TOTAL_LIMIT),
            "size": size,
            "_source": ["message_id", "channel_id", "content"],
        }
        if matching is not None:
            body["highlight"] = {
                "pre_tags": [_START],
                "post_tags": [_STOP],
                "fields": {
                    "content": {
                        "fragment_size": _FRAGMENT_CHARS,
                        "number_of_fragments": 2,
                    }
                },
            }
        try:
            response = await self._client.search(index=self.names.read_alias, body=body)
        except ConnectionError as exc:
            raise errors.Unavailable("the search index is unreachable") from exc
        except TransportError as exc:
            if isinstance(exc.status_code, int) and exc.status_code >= 500:
                raise errors.Unavailable("the search index is unavailable") from exc
            raise
        total = min(int(response["hits"]["total"]["value"]), SEARCH_TOTAL_LIMIT)
        hits = []
        for hit in response["hits"]["hits"]:
            source = hit["_source"]
            fragments = hit.get("highlight", {}).get("content")
            hits.append(
                SearchHit(
                    message_id=int(source["message_id"]),
                    channel_id=int(source["channel_id"]),
                    snippet=_snippet(fragments, source.get("content", "")),
                )
            )
        return SearchResult(total=total, hits=hits)

    async def _bulk(self, lines: list[dict[str, Any]]) -> None:
        await bulk(self._client, index=self.names.write_alias, lines=lines, refresh=self._refresh)


async def bulk(
    client: AsyncOpenSearch, *, index: str, lines: list[dict[str, Any]], refresh: Refresh = "false"
) -> None:
    """One bulk request; raises BulkError unless every item succeeded or met a newer version
    (409: the stored state is newer than this one, which is what external versions are for)."""
    if not lines:
        return
    payload = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    response = await client.bulk(body=payload, index=index, params={"refresh": refresh})
    if not response.get("errors"):
        return
    failures: dict[int, str] = {}
    for item in response["items"]:
        result = next(iter(item.values()))
        status = int(result.get("status", 500))
        if status < 300 or status == 409:
            continue
        error = result.get("error") or {}
        reason = error.get("type", f"status_{status}") if isinstance(error, dict) else str(error)
        failures[int(result["_id"])] = reason
        BULK_FAILED_ITEMS.labels(reason).inc()
    if failures:
        raise BulkError(failures)


def index_lines(documents: Sequence[SearchDocument]) -> list[dict[str, Any]]:
    """Bulk `index` actions: id = message id, the document's version as an external version."""
    lines: list[dict[str, Any]] = []
    for doc in documents:
        meta = {"_id": str(doc.message_id), "version": doc.version, "version_type": "external"}
        lines.append({"index": meta})
        lines.append(document_source(doc))
    return lines


def document_source(doc: SearchDocument) -> dict[str, Any]:
    return {
        "message_id": doc.message_id,
        "guild_id": doc.guild_id,
        "channel_id": doc.channel_id,
        "author_id": doc.author_id,
        "mention_ids": list(doc.mention_ids),
        "created_at": doc.created_at.isoformat(),
        "has_attachment": doc.has_attachment,
        # Our highlight tags and NUL cannot be in the text, so every tag in a highlight is ours.
        "content": doc.content.translate(_STRIP),
    }


_TOKENS = re.compile(r'"[^"]*"?|\S+')
_SPECIAL = re.compile(r'([+|\\()~*"])')


def websearch_to_simple(text: str) -> str:
    """PostgreSQL's web-search syntax as a `simple_query_string` (AND|OR|NOT|PHRASE): quoted
    phrases stay phrases, a bare `or` becomes `|`, a leading `-` excludes; every other operator
    character is escaped, so no input is an error."""
    parts: list[str] = []
    for token in _TOKENS.findall(text):
        if token.startswith('"'):
            inner = _SPECIAL.sub(r"\\\1", token.strip('"'))
            if inner.strip():
                parts.append(f'"{inner}"')
        elif token.lower() == "or":
            if parts and parts[-1] != "|":
                parts.append("|")
        elif token.startswith("-") and len(token) > 1:
            parts.append("-" + _SPECIAL.sub(r"\\\1", token[1:].lstrip("-")))
        else:
            parts.append(_SPECIAL.sub(r"\\\1", token.replace("-", " ")))
    while parts and parts[-1] == "|":
        parts.pop()
    return " ".join(parts)


def _snippet(fragments: list[str] | None, content: str) -> str:
    if not fragments:
        plain = content[:_PLAIN_SNIPPET_CHARS]
        return html.escape(plain + ("…" if len(content) > len(plain) else ""), quote=False)
    joined = " … ".join(fragments)
    escaped = html.escape(joined, quote=False)
    return escaped.replace(_START, "<mark>").replace(_STOP, "</mark>")
