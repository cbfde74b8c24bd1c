"""The SQL of the notification mail (migration 0015): settings, the sweep's search for users
with unread mentions or direct messages, and one user's decision taken under a row lock.

What is unread comes from rows both message stores keep in PostgreSQL: `channels.last_message_id`
and `read_states` (last message read, unread mention count). A decision (`UserRound`) runs in
one transaction that first locks the user's `notification_mail_state` row with SKIP LOCKED: a
second sweeper (another API replica or worker) skips the user instead of deciding twice, and
the mail, the cursors and `last_mailed_at` commit together or not at all.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from gochat import ports
from gochat.adapters.postgres.database import Database
from gochat.adapters.postgres.mail_queue import MailQueueQueries

# Unread direct messages and channels with unread mentions, with where reading should resume
# (after the newest of: the last message read, the cursor, the look-back floor $2). $1: the
# newest id old enough to mail about; $2: the oldest id worth mailing about; $3: users mailed
# after it are resting; $4: users (NULL: any).
_PAIRS = """
WITH pairs AS (
    SELECT cr.user_id, c.id AS channel_id, c.last_message_id, rs.last_read_message_id
      FROM channels c
      JOIN channel_recipients cr ON cr.channel_id = c.id
      LEFT JOIN read_states rs ON rs.user_id = cr.user_id AND rs.channel_id = c.id
     WHERE c.type = 'dm' AND c.last_message_id > $2
    UNION ALL
    SELECT rs.user_id, c.id, c.last_message_id, rs.last_read_message_id
      FROM read_states rs
      JOIN channels c ON c.id = rs.channel_id
     WHERE rs.mention_count > 0 AND c.type <> 'dm' AND c.last_message_id > $2
), resumed AS (
    SELECT p.user_id, p.channel_id, p.last_message_id,
           greatest(p.last_read_message_id, nc.through_message_id, $2) AS after_id
      FROM pairs p
      LEFT JOIN notification_cursors nc
             ON nc.user_id = p.user_id AND nc.channel_id = p.channel_id
     WHERE $4::bigint[] IS NULL OR p.user_id = ANY($4::bigint[])
)
SELECT r.user_id, r.channel_id, r.after_id, r.last_message_id, u.email, u.username,
       c.guild_id, c.name AS channel_name, g.name AS guild_name
  FROM resumed r
  JOIN users u ON u.id = r.user_id
  JOIN channels c ON c.id = r.channel_id
  LEFT JOIN guilds g ON g.id = c.guild_id
  LEFT JOIN notification_settings ns ON ns.user_id = r.user_id
  LEFT JOIN notification_mail_state ms ON ms.user_id = r.user_id
 WHERE r.last_message_id > r.after_id
   AND r.after_id < $1
   AND u.email_confirmed_at IS NOT NULL
   AND coalesce(ns.email_notifications, true)
   AND (ms.last_mailed_at IS NULL OR ms.last_mailed_at <= $3)
 ORDER BY r.user_id, r.channel_id"""


@dataclass(frozen=True, slots=True)
class UnreadChannel:
    """A channel where `user_id` may have something unread worth a mail after `after_id`."""

    user_id: int
    email: str
    username: str
    channel_id: int
    guild_id: int | None  # None: a direct message
    channel_name: str | None
    guild_name: str | None
    after_id: int
    last_message_id: int


@dataclass(frozen=True, slots=True)
class Window:
    """The sweep's view of time, as message ids and a timestamp."""

    due_through_id: int  # messages up to this id are old enough to mail about
    floor_id: int  # messages up to this id are too old to mail about
    resting_since: datetime  # a user mailed after this gets no mail yet


def _unread(row: asyncpg.Record) -> UnreadChannel:
    return UnreadChannel(
        user_id=row["user_id"],
        email=row["email"],
        username=row["username"],
        channel_id=row["channel_id"],
        guild_id=row["guild_id"],
        channel_name=row["channel_name"],
        guild_name=row["guild_name"],
        after_id=row["after_id"],
        last_message_id=row["last_message_id"],
    )


class UserRound(MailQueueQueries):
    """One user's decision, inside the transaction that holds their lock."""

    def __init__(self, conn: asyncpg.Connection, *, unread: list[UnreadChannel]) -> None:
        self.conn = conn
        self.unread = unread

    async def finish(
        self,
        *,
        mail: ports.OutgoingMail | None,
        about: Sequence[tuple[int, int]] = (),
        cursors: Mapping[int, int],
        now: datetime,
    ) -> None:
        """Queue `mail` (if any) about the (channel id, message id) pairs `about` and move the
        user's cursors (channel id -> message id dealt with), in this round's transaction."""
        user_id = self.unread[0].user_id if self.unread else None
        if mail is not None:
            mail_id = await self.enqueue_mail(mail, now=now)
            await self.conn.execute(
                "INSERT INTO notification_mail_messages (mail_id, user_id, channel_id, "
                "message_id) SELECT $1, $2, channel_id, message_id "
                "FROM unnest($3::bigint[], $4::bigint[]) AS t (channel_id, message_id)",
                mail_id,
                user_id,
                [channel_id for channel_id, _ in about],
                [message_id for _, message_id in about],
            )
            await self.conn.execute(
                "UPDATE notification_mail_state SET last_mailed_at = $2 WHERE user_id = $1",
                user_id,
                now,
            )
        if cursors:
            await self.conn.execute(
                "INSERT INTO notification_cursors (user_id, channel_id, through_message_id) "
                "SELECT $1, channel_id, through FROM unnest($2::bigint[], $3::bigint[]) "
                "AS t (channel_id, through) "
                "ON CONFLICT (user_id, channel_id) DO UPDATE SET through_message_id = "
                "greatest(notification_cursors.through_message_id, EXCLUDED.through_message_id)",
                user_id,
                list(cursors),
                list(cursors.values()),
            )


class Notifications:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def email_notifications(self, user_id: int) -> bool:
        row = await self._db.fetchrow(
            "get_notification_settings",
            "SELECT email_notifications FROM notification_settings WHERE user_id = $1",
            user_id,
        )
        return True if row is None else bool(row["email_notifications"])

    async def set_email_notifications(self, user_id: int, *, enabled: bool) -> bool:
        row = await self._db.fetchrow(
            "set_notification_settings",
            "INSERT INTO notification_settings (user_id, email_notifications) VALUES ($1, $2) "
            "ON CONFLICT (user_id) DO UPDATE SET email_notifications = EXCLUDED."
            "email_notifications, updated_at = now() RETURNING email_notifications",
            user_id,
            enabled,
        )
        assert row is not None
        return bool(row["email_notifications"])

    async def users_to_consider(
        self, window: Window, *, after_user_id: int = 0, limit: int
    ) -> list[int]:
        """Users after `after_user_id` who may be owed a notification mail now, in id order
        (checked again under their lock)."""
        rows = await self._db.fetch(
            "find_unread_for_notification",
            f"SELECT DISTINCT user_id FROM ({_PAIRS}) AS due WHERE user_id > $5 "
            "ORDER BY user_id LIMIT $6",
            window.due_through_id,
            window.floor_id,
            window.resting_since,
            None,
            after_user_id,
            limit,
        )
        return [row["user_id"] for row in rows]

    @contextlib.asynccontextmanager
    async def user_round(self, user_id: int, window: Window) -> AsyncIterator[UserRound | None]:
        """The user's round, or None when another sweeper holds the user or nothing is owed
        any more (read meanwhile, mailed meanwhile, turned off)."""
        # The row to lock, committed on its own: inserted inside the round, it would make a
        # second sweeper wait for the first one's commit instead of skipping the user.
        await self._db.fetch(
            "notification_state_row",
            "INSERT INTO notification_mail_state (user_id) VALUES ($1) "
            "ON CONFLICT (user_id) DO NOTHING",
            user_id,
        )
        async with self._db.transaction("notification_round") as conn:
            locked = await conn.fetchval(
                "SELECT true FROM notification_mail_state WHERE user_id = $1 "
                "FOR UPDATE SKIP LOCKED",
                user_id,
            )
            if not locked:
                yield None
                return
            rows = await conn.fetch(
                _PAIRS,
                window.due_through_id,
                window.floor_id,
                window.resting_since,
                [user_id],
            )
            yield UserRound(conn, unread=[_unread(row) for row in rows]) if rows else None
