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
- without a cursor the first round reads as many buckets as the channel's rows per bucket,
  as this process saw them on its last page of that channel (`Densities`), say the page needs
  (a busy channel whose newest bucket fills the page: one bucket; a sparse one: up to
  READ_AHEAD_MAX), or READ_AHEAD_FIRST buckets for a channel not seen yet;
- when a round leaves the page short, the next one reads as many buckets as the rows per bucket
  say the page still needs, from 1 up to READ_AHEAD_MAX: the rows per bucket seen so far in this
  walk, or the channel's known figure when that is higher (a cursor's or the newest bucket is
  often only partly below or above the cursor, or still filling).

A read the page needs that fails raises in the coroutine awaiting the page (StoreUnavailable:
503 with Retry-After), as a sequential walk would.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from fractions import Fraction
from typing import Any

from gochat import ports
from gochat.adapters.cassandra import rows
from gochat.adapters.cassandra.session import CassandraSession
from gochat.core.ids import bucket_of

READ_AHEAD_FIRST = 2
READ_AHEAD_MAX = 4
NEWEST_BUCKET = 2**31 - 1  # above every bucket: the newest page's walk starts here
KNOWN_CHANNELS_MAX = 10_000  # ~1.4 MB of figures; 100,000 took ~14 MB a process
Rows = list[dict[str, Any]]
Query = Coroutine[Any, Any, Rows]


class Densities:
    """Rows per bucket on each channel's last page walk in this process (the page's messages
    over the buckets it took them from; a lower bound, as the last bucket may have been cut by
    the page's LIMIT and a cursor's bucket counts whole). Bounded: the channels read least
    recently are forgotten. A figure gone
    stale (a busy channel's new bucket, a channel gone quiet) costs a round trip or a read too
    many, never a message: pages do not depend on it."""

    def __init__(self, max_channels: int = KNOWN_CHANNELS_MAX) -> None:
        self._max_channels = max_channels
        self._rows_per_bucket: dict[int, Fraction] = {}

    def get(self, channel_id: int) -> Fraction | None:
        return self._rows_per_bucket.get(channel_id)

    def saw(self, channel_id: int, *, rows: int, buckets: int) -> None:
        if buckets == 0:
            return
        self._rows_per_bucket.pop(channel_id, None)  # most recently read last
        self._rows_per_bucket[channel_id] = Fraction(rows, buckets)
        if len(self._rows_per_bucket) > self._max_channels:
            del self._rows_per_bucket[next(iter(self._rows_per_bucket))]


async def newest_first(
    db: CassandraSession,
    channel_id: int,
    *,
    below: int | None,
    limit: int,
    densities: Densities,
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
        channel_id=channel_id, densities=densities,
    )  # fmt: skip


async def oldest_first(
    db: CassandraSession, channel_id: int, *, start: int, limit: int, densities: Densities
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
        start=first, step=1, buckets=buckets, read=read, limit=limit, cursor_bucket=first,
        channel_id=channel_id, densities=densities,
    )  # fmt: skip


async def _walk(
    *,
    start: int,
    step: int,
    buckets: Callable[[int, int], Query],
    read: Callable[[int, int], Query],
    limit: int,
    cursor_bucket: int | None,
    channel_id: int,
    densities: Densities,
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
    known = densities.get(channel_id)
    # With a cursor, the first round is its bucket alone (already on its way): what it holds
    # sizes the next round. Without one, what the channel's last page saw, if anything.
    if cursor_bucket is not None:
        window = 1
    elif known is None:
        window = READ_AHEAD_FIRST
    else:
        window = _window(needed=limit, rows_per_bucket=known)
    taken = 0  # buckets the page took rows from (all of them, but maybe for the last)
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
                taken += 1
                if len(page) >= limit:
                    break
            seen = Fraction(len(page), taken)
            window = _window(
                needed=limit - len(page), rows_per_bucket=max(seen, known or Fraction(0))
            )
    finally:
        await _drop(reads.values())
    densities.saw(channel_id, rows=len(page), buckets=taken)
    return page


def _window(*, needed: int, rows_per_bucket: Fraction) -> int:
    """How many buckets the next round reads: as many as `rows_per_bucket` says the page's
    `needed` rows take, 1 to READ_AHEAD_MAX (the most when no bucket held a row)."""
    if rows_per_bucket == 0:
        return READ_AHEAD_MAX
    return max(1, min(READ_AHEAD_MAX, math.ceil(needed / rows_per_bucket)))


async def _drop(reads: Iterable[asyncio.Task[Rows]]) -> None:
    """Cancel the reads the page did not need and collect their outcome (an error of a read
    beyond the page is no error of the page)."""
    pending = list(reads)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
