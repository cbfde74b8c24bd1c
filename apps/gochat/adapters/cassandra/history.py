"""History pages on the Cassandra timeline: the buckets a page needs, read a few at a time.

A channel's messages are partitioned by ten-day bucket (`ids.bucket_of`); `channel_buckets`
lists the buckets that ever held one. A page walks them from the cursor's bucket (newest first
for `before` and the newest page, oldest first for `after`) and keeps their order exactly, as
reading them one after another would. What changes is the waiting: instead of one round trip
per bucket, the next buckets of the walk are read together in rounds (Discord's read-ahead):

- the bucket list is read with a LIMIT, from the cursor's bucket on (a page of `limit` messages
  needs at most `limit` buckets that hold one; a walk that meets emptied buckets reads on);
- with a cursor, its bucket's read goes out together with the bucket list, and is the first
  round alone;
- a round reads up to `window` buckets at once, each with the page's remaining LIMIT; the
  results are taken in walk order and the walk stops as soon as the page is full: reads beyond
  it are cancelled and their rows (or errors) ignored;
- without a cursor the first round reads READ_AHEAD_FIRST buckets; when a round leaves the page
  short, the next one reads as many buckets as the rows per bucket seen so far say the page
  still needs, from 1 up to READ_AHEAD_MAX (sparse channels get wide rounds, dense ones one
  bucket more).

A read the page needs that fails raises in the coroutine awaiting the page (StoreUnavailable:
503 with Retry-After), as a sequential walk would.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from gochat import ports
from gochat.adapters.cassandra import rows
from gochat.adapters.cassandra.session import CassandraSession
from gochat.core.ids import bucket_of

READ_AHEAD_FIRST = 2
READ_AHEAD_MAX = 4
NEWEST_BUCKET = 2**31 - 1  # above every bucket: the newest page's walk starts here
Rows = list[dict[str, Any]]
Query = Coroutine[Any, Any, Rows]


async def newest_first(
    db: CassandraSession, channel_id: int, *, below: int | None, limit: int
) -> list[ports.MessageRecord]:
    """Up to `limit` messages with ids below `below` (all when None), newest first."""
    top = bucket_of(below) if below is not None else NEWEST_BUCKET

    def read(bucket: int, wanted: int) -> Query:
        if below is not None and bucket == top:
            return db.run("page_before", args=(channel_id, bucket, below, wanted))
        return db.run("page_newest", args=(channel_id, bucket, wanted))

    def buckets(start: int, count: int) -> Query:
        return db.run("buckets_down", args=(channel_id, start, count))

    return await _walk(
        start=top, step=-1, buckets=buckets, read=read, limit=limit,
        cursor_bucket=top if below is not None else None,
    )  # fmt: skip


async def oldest_first(
    db: CassandraSession, channel_id: int, *, start: int, limit: int
) -> list[ports.MessageRecord]:
    """Up to `limit` messages with ids from `start` on, oldest first."""
    first = bucket_of(start)

    def read(bucket: int, wanted: int) -> Query:
        # Past the first bucket `start` is no bound: 0 lets every message of it through.
        bound = start if bucket == first else 0
        return db.run("page_from", args=(channel_id, bucket, bound, wanted))

    def buckets(start: int, count: int) -> Query:
        return db.run("buckets_up", args=(channel_id, start, count))

    return await _walk(
        start=first, step=1, buckets=buckets, read=read, limit=limit, cursor_bucket=first
    )


async def _walk(
    *,
    start: int,
    step: int,
    buckets: Callable[[int, int], Query],
    read: Callable[[int, int], Query],
    limit: int,
    cursor_bucket: int | None,
) -> list[ports.MessageRecord]:
    """The page: the listed buckets from `start` on (in the direction of `step`), each read
    with `read(bucket, wanted)`, concatenated in walk order and cut at `limit`."""
    if limit == 0:
        return []
    page: list[ports.MessageRecord] = []
    reads: dict[int, asyncio.Task[Rows]] = {}  # bucket -> its read, started or done
    if cursor_bucket is not None:
        reads[cursor_bucket] = asyncio.create_task(read(cursor_bucket, limit))
    listed: deque[int] = deque()
    list_from: int | None = start  # None: the bucket list is read to its end
    list_size = max(limit, READ_AHEAD_MAX)
    # With a cursor, the first round is its bucket alone (already on its way): what it holds
    # sizes the next round. Without one, nothing is known yet: two buckets.
    window, buckets_read = (1 if cursor_bucket is not None else READ_AHEAD_FIRST), 0
    try:
        while len(page) < limit:
            if not listed and list_from is not None:
                found = [row["bucket"] for row in await buckets(list_from, list_size)]
                listed.extend(found)
                list_from = found[-1] + step if len(found) == list_size else None
            if not listed:
                break
            wanted = limit - len(page)
            round_ = [listed.popleft() for _ in range(min(window, len(listed)))]
            for bucket in round_:
                if bucket not in reads:
                    reads[bucket] = asyncio.create_task(read(bucket, wanted))
            for bucket in round_:
                found_rows = await reads.pop(bucket)
                page += [rows.record(row) for row in found_rows[: limit - len(page)]]
                if len(page) >= limit:
                    break
            buckets_read += len(round_)
            window = _next_window(found=len(page), buckets_read=buckets_read, limit=limit)
    finally:
        await _drop(reads.values())
    return page


def _next_window(*, found: int, buckets_read: int, limit: int) -> int:
    """How many buckets the next round reads: as many as the rows per bucket so far say the
    page still needs (every bucket so far was read to its end, or the page would be full)."""
    if found == 0:
        return READ_AHEAD_MAX
    needed = math.ceil((limit - found) * buckets_read / found)
    return max(1, min(READ_AHEAD_MAX, needed))


async def _drop(reads: Iterable[asyncio.Task[Rows]]) -> None:
    """Cancel the reads the page did not need and collect their outcome (an error of a read
    beyond the page is no error of the page)."""
    pending = list(reads)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
