"""`ports.MessageStore` on Cassandra/ScyllaDB: the store a service holds, made of short parts.

- timeline.py: messages in Cassandra (buckets, history walks, nonces); nothing there touches
  PostgreSQL.
- sends.py, changes.py: a send, an edit, a delete; each recorded as an intent in PostgreSQL
  before its Cassandra write and completed by the statement that queues its events.
- pins.py, reactions.py: pins and reactions.
- sweep.py: the repair sweep that finishes whatever a dead process left between the two stores.
- relational.py, pin_reaction_intents.py: the PostgreSQL half (intents, completions); rows.py:
  statements and rows.

Nothing is ever written as null (a null cell is a tombstone). Conditional writes (lightweight
transactions) decide the races the contract cares about: one message per nonce, an
edit/pin/delete only of a message that exists, a reaction added or removed once. A send, edit,
delete, pin or reaction is never lost nor announced without being in Cassandra
(docs/data-plane.md).
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime

from gochat import ports
from gochat.adapters.cassandra import changes, pins, reactions, rows, sends, sweep
from gochat.adapters.cassandra.session import CassandraSession
from gochat.adapters.cassandra.timeline import Timeline
from gochat.adapters.postgres import database
from gochat.core import events as domain_events


class CassandraMessageStore:
    def __init__(self, db: CassandraSession, *, relational_db: database.Database) -> None:
        self._db = db
        self._pg = relational_db
        self._timeline = Timeline(db)

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
        """Intent, timeline, completion, exactly once; any failure takes the message back out
        before raising; a process that dies midway leaves the intent, which `repair` completes."""
        await sends.create(
            self._timeline, self._pg, message, events=events, mention_reader_ids=mention_reader_ids
        )

    async def repair(self, *, older_than_seconds: float = sweep.REPAIR_AFTER_SECONDS) -> int:
        """Resolve the changes left between the two stores (intents older than
        `older_than_seconds`); returns how many were resolved here. Safe to run in several
        processes at once."""
        return await sweep.once(self._timeline, self._pg, older_than_seconds=older_than_seconds)

    async def repair_forever(self, *, every: float = sweep.REPAIR_EVERY_SECONDS) -> None:
        """The sweep a service runs in the background (composition starts it)."""
        await sweep.forever(self._timeline, self._pg, every=every)

    async def get(self, channel_id: int, message_id: int) -> ports.MessageRecord | None:
        return await self._timeline.get(channel_id, message_id)

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
        return await self._timeline.list(
            channel_id, before=before, after=after, around=around, limit=limit
        )

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
        return await changes.edit(
            self._timeline,
            self._pg,
            message,
            content=content,
            edited_at=edited_at,
            mention_ids=mention_ids,
            mention_everyone=mention_everyone,
            events=events,
        )

    async def delete(
        self, message: ports.MessageRecord, *, events: Sequence[domain_events.Event]
    ) -> None:
        """Reactions, the pin and the nonce go with the message. The delete is recorded as an
        intent first: once recorded it is finished, by this call or by the repair sweep (also
        when Cassandra fails to answer: a delete that timed out may have been applied)."""
        await changes.delete(self._timeline, self._pg, message, events=events)

    async def set_pinned(
        self,
        message: ports.MessageRecord,
        *,
        pinned_at: datetime | None,
        events: Sequence[domain_events.Event],
    ) -> ports.MessageRecord:
        """Pinning a pinned message (or unpinning an unpinned one) keeps the stored pin time
        and writes no events."""
        return await pins.set_pinned(
            self._timeline, self._pg, message, pinned_at=pinned_at, events=events
        )

    async def pinned(self, channel_id: int) -> builtins.list[ports.MessageRecord]:
        """Most recently pinned first."""
        return await pins.pinned(self._timeline, channel_id)

    async def add_reaction(
        self,
        message: ports.MessageRecord,
        *,
        emoji: str,
        user_id: int,
        events: Sequence[domain_events.Event],
    ) -> bool:
        return await reactions.add(
            self._timeline, self._pg, message, emoji=emoji, user_id=user_id, events=events
        )

    async def remove_reaction(
        self,
        message: ports.MessageRecord,
        *,
        emoji: str,
        user_id: int,
        events: Sequence[domain_events.Event],
    ) -> bool:
        """True when removed, False when there was no such reaction (no events then)."""
        return await reactions.remove(
            self._timeline, self._pg, message, emoji=emoji, user_id=user_id, events=events
        )

    async def reactions(
        self, message_ids: Sequence[int], *, viewer_id: int
    ) -> dict[int, builtins.list[ports.ReactionSummary]]:
        """Only messages with reactions appear; emojis in the order they were first used."""
        return await reactions.summaries(self._timeline, message_ids, viewer_id=viewer_id)

    async def reaction_users(
        self, message_id: int, *, emoji: str, after: int | None, limit: int
    ) -> builtins.list[int]:
        """User ids in ascending order, those greater than `after`."""
        return await reactions.users(
            self._timeline, message_id, emoji=emoji, after=after, limit=limit
        )
