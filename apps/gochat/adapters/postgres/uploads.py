"""`ports.PendingUploads` on PostgreSQL (table attachment_uploads, migration 0009)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from gochat import ports
from gochat.adapters.postgres.database import Database

_COLUMNS = """upload_name, channel_id, user_id, filename, size, content_type, object_key,
              expires_at"""


class PostgresPendingUploads:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, uploads: Sequence[ports.PendingUpload]) -> None:
        async with self._db.transaction("add_pending_uploads") as conn:
            await conn.executemany(
                f"INSERT INTO attachment_uploads ({_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
                [
                    (
                        u.upload_name,
                        u.channel_id,
                        u.user_id,
                        u.filename,
                        u.size,
                        u.content_type,
                        u.object_key,
                        u.expires_at,
                    )
                    for u in uploads
                ],
            )

    async def claim(
        self, names: Sequence[str], *, channel_id: int, user_id: int, hold_seconds: float
    ) -> list[ports.PendingUpload]:
        rows = await self._db.fetch(
            "claim_pending_uploads",
            f"""UPDATE attachment_uploads
                   SET claimed_at = now(),
                       expires_at = greatest(expires_at, now() + make_interval(secs => $4))
                 WHERE upload_name = ANY($1::text[]) AND channel_id = $2 AND user_id = $3
                   AND claimed_at IS NULL AND expires_at > now()
             RETURNING {_COLUMNS}""",
            list(names),
            channel_id,
            user_id,
            hold_seconds,
        )
        return [_upload(row) for row in rows]

    async def release(self, names: Sequence[str]) -> None:
        await self._db.fetch(
            "release_pending_uploads",
            "UPDATE attachment_uploads SET claimed_at = NULL WHERE upload_name = ANY($1::text[])",
            list(names),
        )

    async def remove(self, names: Sequence[str]) -> None:
        await self._db.fetch(
            "remove_pending_uploads",
            "DELETE FROM attachment_uploads WHERE upload_name = ANY($1::text[])",
            list(names),
        )

    async def discard(
        self, name: str, *, channel_id: int, user_id: int
    ) -> ports.PendingUpload | None:
        row = await self._db.fetchrow(
            "discard_pending_upload",
            f"""DELETE FROM attachment_uploads
                 WHERE upload_name = $1 AND channel_id = $2 AND user_id = $3
                   AND claimed_at IS NULL
             RETURNING {_COLUMNS}""",
            name,
            channel_id,
            user_id,
        )
        return None if row is None else _upload(row)

    async def take_expired(self, *, limit: int) -> list[ports.PendingUpload]:
        rows = await self._db.fetch(
            "take_expired_uploads",
            f"""DELETE FROM attachment_uploads
                 WHERE upload_name IN (SELECT upload_name FROM attachment_uploads
                                        WHERE expires_at <= now()
                                        ORDER BY expires_at LIMIT $1
                                          FOR UPDATE SKIP LOCKED)
             RETURNING {_COLUMNS}""",
            limit,
        )
        return [_upload(row) for row in rows]


def _upload(row: asyncpg.Record) -> ports.PendingUpload:
    return ports.PendingUpload(**dict(row))
