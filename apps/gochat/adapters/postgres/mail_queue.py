"""The SQL of auth's mail queue (table `mail_queue`, migration 0006).

A mail is enqueued in the transaction of the change that calls for it (`MailQueueQueries`, mixed
into `AccountsTx`), so it exists if and only if the change does. The sender claims due rows with
a lease (attempts + 1, next attempt pushed past the lease) in a short transaction and sends
outside it: a sender that dies mid-send leaves its rows due again when the lease ends, and two
senders (two auth replicas) never claim the same row (SKIP LOCKED). Delivery is at least once.
A claimed notification mail says whether its recipient has read all it is about meanwhile.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from gochat import ports
from gochat.adapters.postgres.database import Database


@dataclass(frozen=True, slots=True)
class QueuedMail:
    id: int
    mail: ports.OutgoingMail
    attempts: int  # including the claim that returned it
    # A notification mail whose recipient has read every message it is about: not to be sent.
    read_meanwhile: bool = False


class MailQueueQueries:
    conn: asyncpg.Connection

    async def enqueue_mail(self, mail: ports.OutgoingMail, *, now: datetime) -> int:
        """Queue `mail`, due at `now` (the caller's clock, the one its sender claims with);
        its id."""
        mail_id: int = await self.conn.fetchval(
            "INSERT INTO mail_queue (kind, recipient, locale, variables, next_attempt_at, "
            "created_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
            mail.kind,
            mail.to,
            mail.locale,
            json.dumps(dict(mail.variables)),
            now,
        )
        return mail_id

    async def purge_failed_mail(self, *, before: datetime) -> None:
        """Forget mails given up before `before` (kept until then for investigations)."""
        await self.conn.execute("DELETE FROM mail_queue WHERE failed_at < $1", before)


# True for a mail with notification_mail_messages rows (migration 0017) all read by now.
_READ_MEANWHILE = """(
    EXISTS (SELECT 1 FROM notification_mail_messages n WHERE n.mail_id = mail_queue.id)
    AND NOT EXISTS (
        SELECT 1 FROM notification_mail_messages n
          LEFT JOIN read_states rs ON rs.user_id = n.user_id AND rs.channel_id = n.channel_id
         WHERE n.mail_id = mail_queue.id
           AND (rs.last_read_message_id IS NULL OR rs.last_read_message_id < n.message_id))
) AS read_meanwhile"""


class MailQueue:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim_due(self, *, now: datetime, lease: timedelta, limit: int) -> list[QueuedMail]:
        """Up to `limit` due mails, oldest due first, leased to the caller until now + lease."""
        rows = await self._db.fetch(
            "claim_due_mail",
            "UPDATE mail_queue SET attempts = attempts + 1, next_attempt_at = $2 "
            "WHERE id IN (SELECT id FROM mail_queue WHERE failed_at IS NULL "
            "AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $3 "
            "FOR UPDATE SKIP LOCKED) "
            f"RETURNING id, kind, recipient, locale, variables, attempts, {_READ_MEANWHILE}",
            now,
            now + lease,
            limit,
        )
        return sorted((_queued_from(row) for row in rows), key=lambda queued: queued.id)

    async def delete(self, mail_id: int) -> None:
        """The mail went out."""
        await self._db.fetch("delete_sent_mail", "DELETE FROM mail_queue WHERE id = $1", mail_id)

    async def defer(self, mail_id: int, *, until: datetime, error: str) -> None:
        """A transient failure: due again at `until`."""
        await self._db.fetch(
            "defer_mail",
            "UPDATE mail_queue SET next_attempt_at = $2, last_error = $3 WHERE id = $1",
            mail_id,
            until,
            error[:1000],
        )

    async def fail(self, mail_id: int, *, now: datetime, error: str) -> None:
        """Given up: kept for investigation, its variables (a token) erased."""
        await self._db.fetch(
            "fail_mail",
            "UPDATE mail_queue SET failed_at = $2, last_error = $3, variables = '{}' WHERE id = $1",
            mail_id,
            now,
            error[:1000],
        )

    async def pending(self) -> int:
        """Mails not yet sent nor given up (for the queue-depth gauge and tests)."""
        row = await self._db.fetchrow(
            "count_pending_mail", "SELECT count(*) AS n FROM mail_queue WHERE failed_at IS NULL"
        )
        return int(row["n"]) if row is not None else 0


def _queued_from(row: asyncpg.Record) -> QueuedMail:
    variables = row["variables"]
    if isinstance(variables, str):  # jsonb arrives as text without a registered codec
        variables = json.loads(variables)
    return QueuedMail(
        id=row["id"],
        mail=ports.OutgoingMail(
            to=row["recipient"], kind=row["kind"], variables=variables, locale=row["locale"]
        ),
        attempts=row["attempts"],
        read_meanwhile=row["read_meanwhile"],
    )
