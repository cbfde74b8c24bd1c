"""Snowflake worker-id leases in PostgreSQL (table worker_id_leases, migration 0008).

Every id-generating service already has PostgreSQL. A claim picks a free row with
`FOR UPDATE SKIP LOCKED`, so concurrent claims never wait on each other and never get the same
id; a lease is held only while `expires_at` is in the future, by the database's clock.

An id that was released or expired is claimed again only REUSE_AFTER_SECONDS later: its last
holder stopped issuing ids by then, but the next holder may run on a host whose clock is a
little behind, and would otherwise issue ids with the same milliseconds as the last ones.
"""

from __future__ import annotations

from gochat.adapters.postgres.database import Database

REUSE_AFTER_SECONDS = 10.0  # well above the clock skew of hosts kept in sync by NTP

_CLAIM_ANY = """
UPDATE worker_id_leases
   SET holder = $1, expires_at = now() + make_interval(secs => $2)
 WHERE worker_id = (SELECT worker_id FROM worker_id_leases
                     WHERE expires_at <= now() - make_interval(secs => $3)
                     ORDER BY expires_at, worker_id
                     LIMIT 1
                       FOR UPDATE SKIP LOCKED)
RETURNING worker_id
"""

_CLAIM_ONE = """
UPDATE worker_id_leases
   SET holder = $1, expires_at = now() + make_interval(secs => $2)
 WHERE worker_id = $3 AND expires_at <= now() - make_interval(secs => $4)
RETURNING worker_id
"""

_RENEW = """
UPDATE worker_id_leases
   SET expires_at = now() + make_interval(secs => $3)
 WHERE worker_id = $1 AND holder = $2 AND expires_at > now()
RETURNING worker_id
"""

_RELEASE = """
UPDATE worker_id_leases
   SET holder = '', expires_at = now()
 WHERE worker_id = $1 AND holder = $2
"""


class PostgresWorkerIdLeases:
    """ports.WorkerIdLeases on the worker_id_leases table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(self, *, holder: str, seconds: float, wanted: int | None = None) -> int | None:
        if wanted is None:
            row = await self._db.fetchrow(
                "claim_worker_id", _CLAIM_ANY, holder, seconds, REUSE_AFTER_SECONDS
            )
        else:
            row = await self._db.fetchrow(
                "claim_worker_id", _CLAIM_ONE, holder, seconds, wanted, REUSE_AFTER_SECONDS
            )
        return None if row is None else int(row["worker_id"])

    async def renew(self, *, worker_id: int, holder: str, seconds: float) -> bool:
        row = await self._db.fetchrow("renew_worker_id", _RENEW, worker_id, holder, seconds)
        return row is not None

    async def release(self, *, worker_id: int, holder: str) -> None:
        await self._db.fetchrow("release_worker_id", _RELEASE, worker_id, holder)
