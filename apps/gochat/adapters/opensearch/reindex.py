"""`gochat search reindex`: build a new versioned index from the message store, then switch.

1. Put the template (a changed mapping or analyzer applies to the new index).
2. Create `<prefix>-messages.v<N+1>` with refresh off (`refresh_interval: -1`) and no replicas.
3. Point the write alias at it (one atomic alias call), so the indexer's live events land in
   the new index from now on; searches still read the old one.
4. Copy every message of every channel from the message store, through the bulk API, with
   `version = message id` (external): every event of a message has a larger id, so a live edit
   or tombstone already written wins over the copy, and a copy read before an edit loses to it.
5. Restore the replicas and the refresh interval, refresh, then move the read alias in one
   atomic call. The old index stays (or goes with `delete_old`).
If a step fails, the write alias goes back to the old index and the new index is deleted:
nothing changes for searches.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from typing import Any

from opensearchpy import AsyncOpenSearch

from gochat.adapters.opensearch import schema
from gochat.adapters.opensearch.search import bulk, index_lines
from gochat.ports import MessageRecord, MessageStore, SearchDocument

log = logging.getLogger(__name__)
PAGE = 100  # messages per store read
BULK_DOCUMENTS = 1000  # documents per bulk request


@dataclass(frozen=True)
class Progress:
    documents: int
    channels: int
    seconds: float


@dataclass(frozen=True)
class Report:
    old_index: str | None
    new_index: str
    documents: int
    channels: int
    seconds: float
    deleted_old: bool


async def reindex(
    client: AsyncOpenSearch,
    names: schema.Names,
    store: MessageStore,
    channel_ids: AsyncIterable[int],
    *,
    replicas: int = schema.REPLICAS,
    delete_old: bool = False,
    progress: Callable[[Progress], None] = lambda p: None,
    progress_every: int = 5000,
) -> Report:
    started = time.monotonic()
    await client.indices.put_index_template(
        name=names.template, body=schema.template_body(names, replicas=replicas)
    )
    old = await schema.alias_targets(client, names.read_alias)
    old_writes = await schema.alias_targets(client, names.write_alias)
    existing = await client.indices.get(index=names.pattern, ignore_unavailable=True)
    version = max((names.version_of(name) for name in existing), default=0) + 1
    new = names.index(version)
    await client.indices.create(
        index=new,
        body={"settings": {"index": {"number_of_replicas": 0, "refresh_interval": "-1"}}},
    )
    await _move_alias(client, names.write_alias, old_writes, new, write=True)
    log.info("reindex started", extra={"index": new, "old_index": old})
    documents = channels = 0
    try:
        batch: list[SearchDocument] = []
        async for channel_id in channel_ids:
            channels += 1
            async for record in _channel_messages(store, channel_id):
                batch.append(_document(record))
                if len(batch) >= BULK_DOCUMENTS:
                    await _copy(client, new, batch)
                    documents += len(batch)
                    batch = []
                    if documents % progress_every < BULK_DOCUMENTS:
                        progress(Progress(documents, channels, time.monotonic() - started))
        if batch:
            await _copy(client, new, batch)
            documents += len(batch)
        await client.indices.put_settings(
            index=new,
            body={"index": {"number_of_replicas": replicas, "refresh_interval": None}},
        )
        await client.indices.refresh(index=new)
        await _move_alias(client, names.read_alias, old, new, write=False)
    except BaseException:
        log.exception("reindex failed; the old index stays in use", extra={"index": new})
        if old_writes:
            await _move_alias(client, names.write_alias, [new], old_writes[0], write=True)
        await client.indices.delete(index=new, ignore_unavailable=True)
        raise
    progress(Progress(documents, channels, time.monotonic() - started))
    if delete_old and old:
        await client.indices.delete(index=",".join(old), ignore_unavailable=True)
    return Report(
        old_index=old[0] if old else None,
        new_index=new,
        documents=documents,
        channels=channels,
        seconds=time.monotonic() - started,
        deleted_old=bool(delete_old and old),
    )


async def _move_alias(
    client: AsyncOpenSearch, alias: str, sources: list[str], target: str, *, write: bool
) -> None:
    """One atomic `_aliases` call: `alias` leaves `sources` and names `target` only."""
    actions: list[dict[str, Any]] = [
        {"remove": {"index": source, "alias": alias}} for source in sources if source != target
    ]
    add: dict[str, Any] = {"index": target, "alias": alias}
    if write:
        add["is_write_index"] = True
    actions.append({"add": add})
    await client.indices.update_aliases(body={"actions": actions})


async def _channel_messages(store: MessageStore, channel_id: int) -> AsyncIterable[MessageRecord]:
    before: int | None = None
    while True:
        page = await store.list(channel_id, before=before, limit=PAGE)
        if not page:
            return
        for record in page:
            yield record
        before = page[-1].id
        if len(page) < PAGE:
            return


def _document(record: MessageRecord) -> SearchDocument:
    return SearchDocument(
        message_id=record.id,
        guild_id=record.guild_id,
        channel_id=record.channel_id,
        author_id=record.author_id,
        content=record.content,
        mention_ids=tuple(record.mention_ids),
        created_at=record.created_at,
        has_attachment=bool(record.attachments),
        version=record.id,
    )


async def _copy(client: AsyncOpenSearch, index: str, documents: list[SearchDocument]) -> None:
    # A 409 is a live event that already wrote a newer state: the copy is not needed.
    await bulk(client, index=index, lines=index_lines(documents))
