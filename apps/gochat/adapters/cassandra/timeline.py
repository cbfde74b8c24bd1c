"""The Cassandra timeline itself: writing, removing and reading messages, and their nonces.

Timelines are partitioned by (channel, ten-day bucket of the snowflake); history walks the
channel's known buckets (`channel_buckets`) newest first until the page is full, reading a few
buckets at a time (history.py). Nothing here
touches PostgreSQL: the store (messages.py) decides when these writes happen.
"""

from __future__ import annotations

import asyncio
import builtins

from gochat import ports
from gochat.adapters import paging
from gochat.adapters.cassandra import history, rows
from gochat.adapters.cassandra.session import CassandraSession
from gochat.core import errors, ids
from gochat.core.ids import bucket_of

# How long a second send with a taken nonce waits for the first to finish writing its message.
NONCE_WAIT_SECONDS = 2.0
KNOWN_BUCKETS_MAX = 100_000


class Timeline:
    def __init__(self, db: CassandraSession) -> None:
        self.db = db
        # (channel, bucket) rows this process has written: a busy channel's sends skip the
        # bucket write for the rest of its ten days. Bounded; forgetting only costs a write.
        self._known_buckets: set[tuple[int, int]] = set()
        # Rows per bucket of the channels this process read: sizes history's read-ahead.
        self._densities = history.Densities()

    async def write(self, message: ports.MessageRecord) -> None:
        """Claim the nonce, write the bucket row, then the message. Idempotent: writing the
        same message again changes nothing (raises `DuplicateNonce` when the nonce went to
        another message)."""
        if message.nonce is not None:
            await self._claim_nonce(message)
        bucket = bucket_of(message.id)
        # The bucket is known before the message is in it: history never skips a message.
        if (message.channel_id, bucket) not in self._known_buckets:
            await self.db.run("add_bucket", args=(message.channel_id, bucket))
            if len(self._known_buckets) >= KNOWN_BUCKETS_MAX:
                self._known_buckets.clear()
            self._known_buckets.add((message.channel_id, bucket))
        # Written at the snowflake's time, so a repeat by the repair sweep never overrides an
        # edit or a delete made since (those are written later).
        write_time = ids.timestamp_ms(message.id) * 1000
        await self.db.run("insert_message", args=(bucket, *rows.insert_values(message), write_time))

    async def take_out(self, message: ports.MessageRecord) -> None:
        """Remove a message a send wrote (and release its nonce): the send did not happen."""
        await self.db.run("remove_message", args=rows.key(message))
        if message.nonce is not None:
            await self.release_nonce(message)

    async def remove_what_goes_with(self, message: ports.MessageRecord) -> None:
        """A deleted message's reactions, pin row and nonce."""
        await self.db.run("remove_reactions", args=(message.id,))
        if message.pinned_at is not None:
            await self.db.run(
                "remove_pin", args=(message.channel_id, message.pinned_at, message.id)
            )
        if message.nonce is not None:
            await self.release_nonce(message)

    async def _claim_nonce(self, message: ports.MessageRecord) -> None:
        key = (message.channel_id, message.author_id, message.nonce)
        [row] = await self.db.run("claim_nonce", args=(*key, message.id))
        if row["[applied]"] or row["message_id"] == message.id:  # ours (a repeat)
            return
        deadline = asyncio.get_running_loop().time() + NONCE_WAIT_SECONDS
        while True:  # the first send may still be writing its message
            existing = await self.get(message.channel_id, row["message_id"])
            if existing is not None:
                raise ports.DuplicateNonce(existing)
            if asyncio.get_running_loop().time() >= deadline:
                raise errors.Conflict("the message with this nonce is still being sent; retry")
            await asyncio.sleep(0.02)

    async def release_nonce(self, message: ports.MessageRecord) -> None:
        key = (message.channel_id, message.author_id, message.nonce)
        await self.db.run("release_nonce", args=(*key, message.id))

    async def get(self, channel_id: int, message_id: int) -> ports.MessageRecord | None:
        found = await self.db.run(
            "get_message", args=(channel_id, bucket_of(message_id), message_id)
        )
        return rows.record(found[0]) if found else None

    async def list(
        self,
        channel_id: int,
        *,
        before: int | None = None,
        after: int | None = None,
        around: int | None = None,
        limit: int = 50,
    ) -> builtins.list[ports.MessageRecord]:
        """Newest first, except `after` (oldest first); `around` as the PostgreSQL store."""
        paging.check_page(limit=limit, anchors={"before": before, "after": after, "around": around})
        if around is not None:
            # Both halves at once; a failing one takes the other down with it.
            older = asyncio.create_task(
                history.newest_first(
                    self.db, channel_id, below=around, limit=limit // 2, densities=self._densities
                )
            )
            try:
                newer = await history.oldest_first(
                    self.db, channel_id, start=around, limit=limit - limit // 2,
                    densities=self._densities,
                )  # fmt: skip
                return newer[::-1] + await older
            finally:
                older.cancel()
                await asyncio.gather(older, return_exceptions=True)
        if after is not None:
            return await history.oldest_first(
                self.db, channel_id, start=after + 1, limit=limit, densities=self._densities
            )
        return await history.newest_first(
            self.db, channel_id, below=before, limit=limit, densities=self._densities
        )


def not_found(message: ports.MessageRecord) -> errors.NotFound:
    return errors.NotFound("unknown message", details={"message_id": str(message.id)})
