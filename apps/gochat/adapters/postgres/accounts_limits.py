"""Fixed-window hit counters in `rate_limit_hits`, shared by every auth replica.

One upsert per attempt both records and counts it, so concurrent attempts on two replicas
can never both see "one left"."""

from __future__ import annotations

from datetime import datetime

import asyncpg


class LimitQueries:
    conn: asyncpg.Connection

    async def count_hit(self, bucket: str, *, window_start: datetime) -> int:
        """Record one hit in the bucket's window; the number of hits including this one."""
        hits: int = await self.conn.fetchval(
            "INSERT INTO rate_limit_hits (bucket, window_start, hits) VALUES ($1, $2, 1) "
            "ON CONFLICT (bucket, window_start) "
            "DO UPDATE SET hits = rate_limit_hits.hits + 1 RETURNING hits",
            bucket,
            window_start,
        )
        return hits

    async def purge_rate_limit_hits(self, *, before: datetime) -> int:
        result: str = await self.conn.execute(
            "DELETE FROM rate_limit_hits WHERE window_start < $1", before
        )
        return int(result.split()[-1])
