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


async def append(conn: asyncpg.Connection, events: Sequence[Event]) -> None:
    """Record `events` in the caller's transaction; they are published after it commits."""
    if not events:
        return
    for key in sorted({_scope_lock_key(e) for e in events}):
        await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", _LOCK_NAMESPACE, key)
    headers = json.dumps(tracing.inject_headers())
    await conn.executemany(
        "INSERT INTO outbox (event_id, subject, payload, headers) VALUES ($1, $2, $3, $4::jsonb)",
        [(e.id, e.subject, e.model_dump_json().encode(), headers) for e in events],
    )
    # Delivered at commit: wakes the relay at once instead of waiting for its poll.
    await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")


def _scope_lock_key(event: Event) -> int:
    # int4 key space; a collision only serializes two unrelated scopes, never breaks order.
    return zlib.crc32(f"{event.scope}:{event.scope_id}".encode()) - (1 << 31)
