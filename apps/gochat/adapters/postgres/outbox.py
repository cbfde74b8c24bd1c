"""Writing events to the outbox inside the caller's transaction.

Ordering: writers of one scope (a guild, a DM channel, a user) serialize on a transaction-scoped
advisory lock taken before their rows get sequence numbers, so within a scope seq order is commit
order. The relay publishes unpublished rows in seq order, so no committed change is reordered,
and a row that commits late (another scope) is still picked up because the relay looks for
`published_at IS NULL`, not past a cursor.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence

import asyncpg

from gochat.core import tracing
from gochat.core.events import Event

NOTIFY_CHANNEL = "gochat_outbox"
_LOCK_NAMESPACE = 0x6F7574  # "out": keeps these keys apart from other advisory locks


# One round trip: the scope locks, the rows and the wake-up. Every lock is taken before any row
# draws its seq: the rows are built from `locked`'s one row, which exists only once its
# aggregate has called pg_advisory_xact_lock for every key (in the sorted order given, as
# unnest returns elements in array order), and seq's default is computed per built row.
_APPEND = f"""
WITH locked AS (
    SELECT count(pg_advisory_xact_lock({_LOCK_NAMESPACE}, key)) AS keys
      FROM unnest($1::int[]) AS key),
queued AS (
    INSERT INTO outbox (event_id, subject, payload, headers)
    SELECT e.event_id, e.subject, e.payload, $5::jsonb
      FROM locked, unnest($2::bigint[], $3::text[], $4::bytea[]) AS e(event_id, subject, payload)
    RETURNING seq)
SELECT pg_notify('{NOTIFY_CHANNEL}', '') FROM (SELECT 1 FROM queued LIMIT 1) AS any_row"""


async def append(conn: asyncpg.Connection, events: Sequence[Event]) -> None:
    """Record `events` in the caller's transaction; they are published after it commits."""
    if not events:
        return
    # pg_notify is delivered at commit: it wakes the relay at once instead of at its next poll.
    await conn.execute(
        _APPEND,
        sorted({_scope_lock_key(e) for e in events}),
        [e.id for e in events],
        [e.subject for e in events],
        [e.model_dump_json().encode() for e in events],
        json.dumps(tracing.inject_headers()),
    )


def _scope_lock_key(event: Event) -> int:
    # int4 key space; a collision only serializes two unrelated scopes, never breaks order.
    return zlib.crc32(f"{event.scope}:{event.scope_id}".encode()) - (1 << 31)
