"""Writing events to the outbox inside the caller's transaction.

Ordering: writers of one scope (a guild, a DM channel, a user) serialize on a transaction-scoped
advisory lock taken before their rows get sequence numbers, so within a scope seq order is commit
order. Across scopes it is not: a row may commit after rows with a higher seq were published.
Each row records its scope (`events.scope_key`), and the relay publishes a scope's rows in seq
order, each only once JetStream acknowledged the scope's previous one, so no committed change
is reordered; a row that commits late is still picked up because the relay looks for
`published_at IS NULL`, not past a cursor.

`append` does it in one round trip. A writer whose change is itself one statement can put the
same work into that statement's WITH clause (`queue_ctes`, `queue_arguments`, `WAKE_RELAY`) and
skip the explicit transaction: the statement's own transaction holds the locks through commit.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence

import asyncpg

from gochat.core import events as domain_events
from gochat.core import tracing
from gochat.core.events import Event

NOTIFY_CHANNEL = "gochat_outbox"
_LOCK_NAMESPACE = 0x6F7574  # "out": keeps these keys apart from other advisory locks
QUEUE_PARAMETERS = 6
# pg_notify is delivered at commit: it wakes the relay at once instead of at its next poll.
# Several notifications with one payload in one transaction reach the listener as one.
WAKE_RELAY = f"(SELECT count(pg_notify('{NOTIFY_CHANNEL}', '')) FROM queued)"


def queue_ctes(*, first: int, gate: str | None = None) -> str:
    """Two CTEs, `locked` then `queued`, for a WITH clause; they use parameters $first to
    $first + 5, bound to `queue_arguments(events)`. With `gate` (earlier CTEs, as a FROM list),
    nothing is locked or queued unless each returned a row, and no lock is taken before they
    have all run.

    Every lock is taken before any row draws its seq: `queued` builds its rows from `locked`'s
    one row, which exists only once its aggregate has called pg_advisory_xact_lock for every key
    (in the sorted order given: unnest returns elements in array order), and seq's default is
    computed for each built row."""
    keys, ids, subjects, scopes, payloads, headers = (
        f"${first + i}" for i in range(QUEUE_PARAMETERS)
    )
    gated = f"{gate}, " if gate else ""
    return f"""
    locked AS (
        SELECT count(pg_advisory_xact_lock({_LOCK_NAMESPACE}, key)) AS keys
          FROM {gated}unnest({keys}::int[]) AS key),
    queued AS (
        INSERT INTO outbox (event_id, subject, scope, payload, headers)
        SELECT e.event_id, e.subject, e.scope, e.payload, {headers}::jsonb
          FROM locked,
               unnest({ids}::bigint[], {subjects}::text[], {scopes}::text[], {payloads}::bytea[])
                 AS e(event_id, subject, scope, payload)
         WHERE locked.keys > 0
        RETURNING seq)"""


def queue_arguments(events: Sequence[Event]) -> tuple[object, ...]:
    return (
        sorted({_scope_lock_key(e) for e in events}),
        [e.id for e in events],
        [e.subject for e in events],
        [domain_events.scope_key(e.scope, e.scope_id) for e in events],
        [e.model_dump_json().encode() for e in events],
        json.dumps(tracing.inject_headers()),
    )


_APPEND = f"WITH {queue_ctes(first=1)} SELECT {WAKE_RELAY}"


async def append(conn: asyncpg.Connection, events: Sequence[Event]) -> None:
    """Record `events` in the caller's transaction; they are published after it commits."""
    if not events:
        return
    await conn.execute(_APPEND, *queue_arguments(events))


def _scope_lock_key(event: Event) -> int:
    # int4 key space; a collision only serializes two unrelated scopes, never breaks order.
    return zlib.crc32(domain_events.scope_key(event.scope, event.scope_id).encode()) - (1 << 31)
