"""`ports.MessageStore` on Cassandra/ScyllaDB: timelines, pins and reactions.

Timelines are partitioned by (channel, ten-day bucket of the snowflake); history walks the
channel's known buckets (`channel_buckets`) newest first until the page is full. Nothing is
ever written as null (a null cell is a tombstone): absent fields are left unset. Conditional
writes (lightweight transactions) decide the races the contract cares about: one message per
nonce, an edit/pin/delete only of a message that exists, a reaction added or removed once.
A send records an intent in PostgreSQL, writes Cassandra, then completes in PostgreSQL
(events, `last_message_id`, mention counts; relational.py). A failure takes the message back
out before the error is raised; a process that dies midway leaves the intent, which `repair`
(run by every API in the background) completes, so a send is never lost nor announced without
being in history (docs/data-plane.md). Deletes are recorded as intents too and finished by the
sweep, and so are edits (unless a later edit or a delete came first); pins and reactions record
their events after the Cassandra write (no intent yet).
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from gochat import ports
from gochat.adapters import paging
from gochat.adapters.cassandra import relational, rows
from gochat.adapters.cassandra.session import CassandraSession
from gochat.adapters.postgres import database
from gochat.core import errors, ids
from gochat.core import events as domain_events
from gochat.core.ids import bucket_of

# How long a second send with a taken nonce waits for the first to finish writing its message.
NONCE_WAIT_SECONDS = 2.0
# A send's intent this old belongs to a process that died (a live one finishes in a request
# timeout or two); the sweep looks every REPAIR_EVERY_SECONDS.
REPAIR_AFTER_SECONDS = 30.0
REPAIR_EVERY_SECONDS = 10.0
KNOWN_BUCKETS_MAX = 100_000
log = logging.getLogger(__name__)


class CassandraMessageStore:
    def __init__(self, db: CassandraSession, *, relational_db: database.Database) -> None:
        self._db = db
        self._pg = relational_db
        # (channel, bucket) rows this process has written: a busy channel's sends skip the
        # bucket write for the rest of its ten days. Bounded; forgetting only costs a write.
        self._known_buckets: set[tuple[int, int]] = set()

    @classmethod
    async def open(
        cls, db: CassandraSession, *, relational_db: database.Database
    ) -> CassandraMessageStore:
        """Prepare every statement (a missing table fails here, at start). Tables are named
        with their keyspace: prepared statements must not depend on a session's USE."""
        await db.prepare_all(
            {name: cql.format(ks=db.keyspace) for name, cql in rows.STATEMENTS.items()}
        )
        return cls(db, relational_db=relational_db)

    async def create(
        self,
        message: ports.MessageRecord,
        *,
        events: Sequence[domain_events.Event],
        mention_reader_ids: Sequence[int] = (),
    ) -> None:
        """Intent (PostgreSQL), timeline (Cassandra), completion (PostgreSQL: the events,
        `last_message_id`, mention counts, exactly once). Any failure takes the message back
        out and forgets the intent before raising; a process that dies midway leaves the
        intent, which `repair` completes."""
        await relational.record_intent(
            self._pg, message, events=events, mention_reader_ids=mention_reader_ids
        )
        try:
            await self._write(message)
        except ports.DuplicateNonce:
            await relational.drop_intent(self._pg, message.id)  # nothing of ours was written
            raise
        except BaseException:
            await self._take_back(message)
            raise
        try:
            await relational.message_sent(
                self._pg,
                message_id=message.id,
                channel_id=message.channel_id,
                mention_reader_ids=mention_reader_ids,
                events=events,
            )
        except BaseException:
            # Not announced, so not kept.
            await self._take_back(message)
            raise

    async def repair(self, *, older_than_seconds: float = REPAIR_AFTER_SECONDS) -> int:
        """Resolve the sends left between the two stores (intents older than
        `older_than_seconds`): one whose process died is written again (idempotent: same id,
        same values, same write time) and completed; one that failed with an answer but could
        not be taken back out (abandoned) is removed; a delete left midway is finished.
        Returns how many were resolved here.
        Safe to run in several processes at once: the completion is gated on deleting the
        intent."""
        completed = 0
        for intent in await relational.stale_intents(
            self._pg, older_than_seconds=older_than_seconds
        ):
            if intent.abandoned:  # the client was told it failed: remove, never complete
                await self._take_back(intent.message)
                completed += 1
                continue
            try:
                await self._write(intent.message)
            except ports.DuplicateNonce:  # its nonce went to another message: never sent
                await relational.drop_intent(self._pg, intent.message.id)
                continue
            await relational.message_sent(
                self._pg,
                message_id=intent.message.id,
                channel_id=intent.message.channel_id,
                mention_reader_ids=intent.mention_reader_ids,
                events=intent.events,
            )
            completed += 1
        for edit in await relational.stale_changes(
            self._pg, relational.EDITS, older_than_seconds=older_than_seconds
        ):
            await self._finish_edit(edit)
            completed += 1
        for deletion in await relational.stale_changes(
            self._pg, relational.DELETIONS, older_than_seconds=older_than_seconds
        ):
            await self._db.run("remove_message", args=rows.key(deletion.message))  # idempotent
            await self._remove_what_goes_with(deletion.message)
            await relational.change_done(
                self._pg, relational.DELETIONS, deletion.id, deletion.events
            )
            completed += 1
        return completed

    async def _finish_edit(self, edit: relational.Change) -> None:
        """Apply an edit left midway unless the message changed since it was recorded (a later
        edit or a delete, already announced); record its events only if it is in place."""
        message = edit.message
        [row] = await self._db.run(
            "replay_edit",
            args=(
                message.content,
                message.edited_at,
                list(message.mention_ids),
                message.mention_everyone,
                *rows.key(message),
                message.author_id,
                edit.previous_edited_at,
            ),
        )
        if row["[applied]"] or rows.utc(row.get("edited_at")) == message.edited_at:
            await relational.change_done(self._pg, relational.EDITS, edit.id, edit.events)
        else:
            await relational.drop_change(self._pg, relational.EDITS, edit.id)

    async def repair_forever(self, *, every: float = REPAIR_EVERY_SECONDS) -> None:
        """The sweep a service runs in the background (composition starts it)."""
        while True:
            await asyncio.sleep(every)
            try:
                if completed := await self.repair():
                    log.warning("completed interrupted sends", extra={"count": completed})
            except Exception:  # the next round retries; the service stays up
                log.exception("message intent repair failed")

    async def _write(self, message: ports.MessageRecord) -> None:
        if message.nonce is not None:
            await self._claim_nonce(message)
        bucket = bucket_of(message.id)
        # The bucket is known before the message is in it: history never skips a message.
        if (message.channel_id, bucket) not in self._known_buckets:
            await self._db.run("add_bucket", args=(message.channel_id, bucket))
            if len(self._known_buckets) >= KNOWN_BUCKETS_MAX:
                self._known_buckets.clear()
            self._known_buckets.add((message.channel_id, bucket))
        # Written at the snowflake's time, so a repeat by the repair sweep never overrides an
        # edit or a delete made since (those are written later).
        write_time = ids.timestamp_ms(message.id) * 1000
        await self._db.run(
            "insert_message", args=(bucket, *rows.insert_values(message), write_time)
        )

    async def _take_back(self, message: ports.MessageRecord) -> None:
        """Remove what a failed send may have written. When Cassandra cannot be reached for
        that either, the intent is marked abandoned and the sweep removes it later."""
        try:
            await self._db.run("remove_message", args=rows.key(message))
            if message.nonce is not None:
                await self._release_nonce(message)
        except Exception:
            log.warning("send taken back later", extra={"message_id": message.id})
            await relational.abandon_intent(self._pg, message.id)
            return
        await relational.drop_intent(self._pg, message.id)

    async def _claim_nonce(self, message: ports.MessageRecord) -> None:
        key = (message.channel_id, message.author_id, message.nonce)
        [row] = await self._db.run("claim_nonce", args=(*key, message.id))
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

    async def _release_nonce(self, message: ports.MessageRecord) -> None:
        key = (message.channel_id, message.author_id, message.nonce)
        await self._db.run("release_nonce", args=(*key, message.id))

    async def get(self, channel_id: int, message_id: int) -> ports.MessageRecord | None:
        found = await self._db.run(
            "get_message", args=(channel_id, bucket_of(message_id), message_id)
        )
        return rows.record(found[0]) if found else None

    async def edit(
        self,
        message: ports.MessageRecord,
        *,
        content: str,
        edited_at: datetime,
        mention_ids: tuple[int, ...],
        mention_everyone: bool,
        events: Sequence[domain_events.Event],
    ) -> ports.MessageRecord:
        """Recorded as an intent first: an edit left midway (a dead process, Cassandra not
        answering) is finished by the repair sweep, unless a later edit or a delete came first."""
        edited = dataclasses.replace(
            message,
            content=content,
            edited_at=edited_at,
            mention_ids=mention_ids,
            mention_everyone=mention_everyone,
        )
        edit = await relational.record_change(
            self._pg,
            relational.EDITS,
            edited,
            events=events,
            previous_edited_at=message.edited_at,
        )
        # An empty frozen list is a value, not a tombstone: the old mentions are replaced.
        [row] = await self._db.run(
            "edit_message",
            args=(content, edited_at, list(mention_ids), mention_everyone, *rows.key(message)),
        )
        current = await self.get(message.channel_id, message.id) if row["[applied]"] else None
        if current is None:  # no such message, or deleted in between
            await relational.drop_change(self._pg, relational.EDITS, edit)
            raise _not_found(message)
        await relational.change_done(self._pg, relational.EDITS, edit, events)
        return current

    async def delete(
        self, message: ports.MessageRecord, *, events: Sequence[domain_events.Event]
    ) -> None:
        """Reactions, the pin and the nonce go with the message. The delete is recorded as an
        intent first: once recorded it is finished, by this call or by the repair sweep (also
        when Cassandra fails to answer: a delete that timed out may have been applied)."""
        current = await self.get(message.channel_id, message.id)
        if current is None:
            raise _not_found(message)
        deletion = await relational.record_change(
            self._pg, relational.DELETIONS, current, events=events
        )
        [row] = await self._db.run("delete_message", args=rows.key(message))
        if not row["[applied]"]:  # deleted by someone else in between
            await relational.drop_change(self._pg, relational.DELETIONS, deletion)
            raise _not_found(message)
        await self._remove_what_goes_with(current)
        await relational.change_done(self._pg, relational.DELETIONS, deletion, events)

    async def _remove_what_goes_with(self, message: ports.MessageRecord) -> None:
        await self._db.run("remove_reactions", args=(message.id,))
        if message.pinned_at is not None:
            await self._db.run(
                "remove_pin", args=(message.channel_id, message.pinned_at, message.id)
            )
        if message.nonce is not None:
            await self._release_nonce(message)

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
            older = await self._walk_down(channel_id, below=around, limit=limit // 2)
            newer = await self._walk_up(channel_id, start=around, limit=limit - limit // 2)
            return newer[::-1] + older
        if after is not None:
            return await self._walk_up(channel_id, start=after + 1, limit=limit)
        return await self._walk_down(channel_id, below=before, limit=limit)

    async def _walk_down(
        self, channel_id: int, *, below: int | None, limit: int
    ) -> builtins.list[ports.MessageRecord]:
        """Up to `limit` messages with ids below `below` (all when None), newest first."""
        if limit == 0:
            return []
        top = bucket_of(below) if below is not None else 2**31 - 1
        page: builtins.list[ports.MessageRecord] = []
        for bucket_row in await self._db.run("buckets_down", args=(channel_id, top)):
            bucket, wanted = bucket_row["bucket"], limit - len(page)
            if below is not None and bucket == top:
                found = await self._db.run("page_before", args=(channel_id, bucket, below, wanted))
            else:
                found = await self._db.run("page_newest", args=(channel_id, bucket, wanted))
            page += [rows.record(row) for row in found]
            if len(page) >= limit:
                break
        return page

    async def _walk_up(
        self, channel_id: int, *, start: int, limit: int
    ) -> builtins.list[ports.MessageRecord]:
        """Up to `limit` messages with ids from `start` on, oldest first."""
        first = bucket_of(start)
        page: builtins.list[ports.MessageRecord] = []
        for bucket_row in await self._db.run("buckets_up", args=(channel_id, first)):
            bucket, wanted = bucket_row["bucket"], limit - len(page)
            # Below the first bucket `start` is no bound: 0 lets every message of it through.
            bound = start if bucket == first else 0
            found = await self._db.run("page_from", args=(channel_id, bucket, bound, wanted))
            page += [rows.record(row) for row in found]
            if len(page) >= limit:
                break
        return page

    async def set_pinned(
        self,
        message: ports.MessageRecord,
        *,
        pinned_at: datetime | None,
        events: Sequence[domain_events.Event],
    ) -> ports.MessageRecord:
        """Pinning a pinned message (or unpinning an unpinned one) keeps the stored pin time
        and writes no events."""
        if pinned_at is not None:
            # The pins list's row first: until the message carries this pin time the reader
            # skips it, so a pin cut short is never half-listed.
            pin = (message.channel_id, pinned_at, message.id)
            await self._db.run("add_pin", args=pin)
            [row] = await self._db.run(
                "pin_message", args=(pinned_at, *rows.key(message), message.author_id)
            )
            changed = bool(row["[applied]"])
            if not changed:
                await self._db.run("remove_pin", args=pin)
        else:
            current = await self.get(message.channel_id, message.id)
            if current is None:
                raise _not_found(message)
            changed = False
            if current.pinned_at is not None:
                [row] = await self._db.run(
                    "unpin_message", args=(*rows.key(message), current.pinned_at)
                )
                changed = bool(row["[applied]"])
                if changed:
                    await self._db.run(
                        "remove_pin", args=(message.channel_id, current.pinned_at, message.id)
                    )
        stored = await self.get(message.channel_id, message.id)
        if stored is None:
            raise _not_found(message)
        if changed:
            await relational.record(self._pg, "set_message_pinned", events)
        return stored

    async def pinned(self, channel_id: int) -> builtins.list[ports.MessageRecord]:
        """Most recently pinned first; a pin row its message no longer agrees with is skipped."""
        pins = await self._db.run("list_pins", args=(channel_id,))
        found = await asyncio.gather(*(self.get(channel_id, pin["message_id"]) for pin in pins))
        return [
            message
            for pin, message in zip(pins, found, strict=True)
            if message is not None and message.pinned_at == rows.utc(pin["pinned_at"])
        ]

    async def add_reaction(
        self,
        message: ports.MessageRecord,
        *,
        emoji: str,
        user_id: int,
        events: Sequence[domain_events.Event],
    ) -> bool:
        if await self.get(message.channel_id, message.id) is None:
            raise _not_found(message)
        [row] = await self._db.run("add_reaction", args=(message.id, emoji, user_id))
        if row["[applied]"]:
            await relational.record(self._pg, "add_reaction", events)
        return bool(row["[applied]"])

    async def remove_reaction(
        self,
        message: ports.MessageRecord,
        *,
        emoji: str,
        user_id: int,
        events: Sequence[domain_events.Event],
    ) -> bool:
        """True when removed, False when there was no such reaction (no events then)."""
        [row] = await self._db.run("remove_reaction", args=(message.id, emoji, user_id))
        if row["[applied]"]:
            await relational.record(self._pg, "remove_reaction", events)
        return bool(row["[applied]"])

    async def reactions(
        self, message_ids: Sequence[int], *, viewer_id: int
    ) -> dict[int, builtins.list[ports.ReactionSummary]]:
        """Only messages with reactions appear; emojis in the order they were first used."""
        if not message_ids:
            return {}
        found = await self._db.run("list_reactions", args=(list(dict.fromkeys(message_ids)),))
        # message -> emoji -> [count, me, first reaction's timeuuid]
        tally: dict[int, dict[str, list[Any]]] = {}
        for row in found:
            entry = tally.setdefault(row["message_id"], {}).setdefault(
                row["emoji"], [0, False, row["reacted_at"]]
            )
            entry[0] += 1
            entry[1] = entry[1] or row["user_id"] == viewer_id
            if (row["reacted_at"].time, row["reacted_at"].bytes) < (entry[2].time, entry[2].bytes):
                entry[2] = row["reacted_at"]
        return {
            message_id: [
                ports.ReactionSummary(emoji=emoji, count=count, me=me)
                for emoji, (count, me, _) in sorted(
                    emojis.items(), key=lambda item: (item[1][2].time, item[1][2].bytes, item[0])
                )
            ]
            for message_id, emojis in tally.items()
        }

    async def reaction_users(
        self, message_id: int, *, emoji: str, after: int | None, limit: int
    ) -> builtins.list[int]:
        """User ids in ascending order, those greater than `after`."""
        paging.check_page(limit=limit, anchors={"after": after})
        found = await self._db.run("reaction_users", args=(message_id, emoji, after or 0, limit))
        return [row["user_id"] for row in found]


def _not_found(message: ports.MessageRecord) -> errors.NotFound:
    return errors.NotFound("unknown message", details={"message_id": str(message.id)})
