"""`ports.MessageStore` on PostgreSQL: channel timelines, pins and reactions.

Every mutation runs in one named transaction with `outbox.append`, so its events are recorded
exactly when the change is. Mutations that change nothing (a duplicate nonce, a reaction already
there, a pin already in the requested state) write no events. A message that does not exist
(any more) makes edit, delete, set_pinned and add_reaction raise `errors.NotFound`.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from gochat import ports
from gochat.adapters import attachment_codec, paging
from gochat.adapters.postgres import database, outbox, read_states
from gochat.core import errors
from gochat.core import events as domain_events

MAX_PAGE = paging.MAX_PAGE
_COLUMNS = """id, channel_id, guild_id, author_id, content, created_at, nonce, reply_to_id,
              mention_ids, mention_everyone, pinned_at, edited_at, attachments"""
# The insert, the channel's last_message_id, the mentioned readers' unread counts and the events
# in one statement, hence one round trip and one transaction (the statement's own: it holds the
# outbox locks through its commit). Nothing is inserted, and the channel, the read states and the
# outbox are left alone, when the author already used this nonce in this channel.
# Lock order, the same for every writer, so none deadlocks with a send: the channel row, then the
# read states (acknowledging a channel locks one and then the user's outbox scope), then the
# outbox scope lock. Each later step is gated on the earlier ones having run to the end: an
# unreferenced data-modifying CTE would run last, after the scope lock.
_COUNT_MENTIONS = read_states.count_mentions_cte(
    name="mentioned", readers="$12", source="inserted", gate="bump_done"
)
_INSERT = f"""
WITH inserted AS (
    INSERT INTO messages ({_COLUMNS})
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL, $11::text::jsonb)
    ON CONFLICT (channel_id, author_id, nonce) WHERE nonce IS NOT NULL DO NOTHING
    RETURNING id, channel_id),
bumped AS (
    UPDATE channels SET last_message_id = inserted.id FROM inserted
    WHERE channels.id = inserted.channel_id
      AND (channels.last_message_id IS NULL OR channels.last_message_id < inserted.id)
    RETURNING channels.id),
bump_done AS (SELECT count(*) FROM bumped),
{_COUNT_MENTIONS},
mentions_done AS (SELECT count(*) FROM mentioned),
{outbox.queue_ctes(first=13, gate="inserted, bump_done, mentions_done")}
SELECT (SELECT count(*) FROM inserted) AS inserted, {outbox.WAKE_RELAY} AS queued"""


class PostgresMessageStore:
    def __init__(self, db: database.Database) -> None:
        self._db = db

    async def create(
        self,
        message: ports.MessageRecord,
        *,
        events: Sequence[domain_events.Event],
        mention_reader_ids: Sequence[int] = (),
    ) -> None:
        """Raises DuplicateNonce with the stored message when (channel, author, nonce) exists.
        Each of `mention_reader_ids` gets one more unread mention in the channel, atomically
        with the insert (and not at all when nothing is inserted)."""
        # Twice at most: the conflicting message may be deleted between our insert and read.
        for _ in range(2):
            async with self._db.connection("create_message") as conn:
                if await conn.fetchval(
                    _INSERT,
                    *_insert_args(message),
                    sorted(set(mention_reader_ids)),
                    *outbox.queue_arguments(events),
                ):
                    return
                row = await conn.fetchrow(
                    f"""SELECT {_COLUMNS} FROM messages
                        WHERE channel_id = $1 AND author_id = $2 AND nonce = $3""",
                    message.channel_id,
                    message.author_id,
                    message.nonce,
                )
            if row is not None:
                raise ports.DuplicateNonce(_record(row))
        raise errors.Conflict("the message with this nonce changed while sending; retry")

    async def get(self, channel_id: int, message_id: int) -> ports.MessageRecord | None:
        row = await self._db.fetchrow(
            "get_message",
            f"SELECT {_COLUMNS} FROM messages WHERE id = $1 AND channel_id = $2",
            message_id,
            channel_id,
        )
        return None if row is None else _record(row)

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
        async with self._db.transaction("edit_message") as conn:
            row = await conn.fetchrow(
                f"""UPDATE messages
                    SET content = $3, edited_at = $4, mention_ids = $5, mention_everyone = $6
                    WHERE id = $1 AND channel_id = $2 RETURNING {_COLUMNS}""",
                message.id,
                message.channel_id,
                content,
                edited_at,
                list(mention_ids),
                mention_everyone,
            )
            _require(row, message)
            await outbox.append(conn, events)
        return _record(row)

    async def delete(
        self, message: ports.MessageRecord, *, events: Sequence[domain_events.Event]
    ) -> None:
        """Reactions go with the message (foreign key cascade)."""
        async with self._db.transaction("delete_message") as conn:
            row = await conn.fetchrow(
                "DELETE FROM messages WHERE id = $1 AND channel_id = $2 RETURNING id",
                message.id,
                message.channel_id,
            )
            _require(row, message)
            await outbox.append(conn, events)

    async def list(
        self,
        channel_id: int,
        *,
        before: int | None = None,
        after: int | None = None,
        around: int | None = None,
        limit: int = 50,
    ) -> builtins.list[ports.MessageRecord]:
        """Newest first, except `after` (oldest first). `around` gives the `limit // 2` messages
        older than the id and the rest (the id's own message included) from the id on: near
        either end of the channel the page is shorter, not shifted."""
        paging.check_page(limit=limit, anchors={"before": before, "after": after, "around": around})
        if around is not None:
            sql = f"""
                (SELECT {_COLUMNS} FROM messages WHERE channel_id = $1 AND id >= $2
                 ORDER BY id LIMIT $3)
                UNION ALL
                (SELECT {_COLUMNS} FROM messages WHERE channel_id = $1 AND id < $2
                 ORDER BY id DESC LIMIT $4)
                ORDER BY id DESC"""
            args: tuple[int, ...] = (channel_id, around, limit - limit // 2, limit // 2)
        elif after is not None:
            sql = f"""SELECT {_COLUMNS} FROM messages WHERE channel_id = $1 AND id > $2
                      ORDER BY id LIMIT $3"""
            args = (channel_id, after, limit)
        elif before is not None:
            sql = f"""SELECT {_COLUMNS} FROM messages WHERE channel_id = $1 AND id < $2
                      ORDER BY id DESC LIMIT $3"""
            args = (channel_id, before, limit)
        else:
            sql = f"""SELECT {_COLUMNS} FROM messages WHERE channel_id = $1
                      ORDER BY id DESC LIMIT $2"""
            args = (channel_id, limit)
        rows = await self._db.fetch("list_messages", sql, *args)
        return [_record(row) for row in rows]

    async def set_pinned(
        self,
        message: ports.MessageRecord,
        *,
        pinned_at: datetime | None,
        events: Sequence[domain_events.Event],
    ) -> ports.MessageRecord:
        """Pinning a pinned message (or unpinning an unpinned one) keeps the stored pin time
        and writes no events."""
        async with self._db.transaction("set_message_pinned") as conn:
            row = await conn.fetchrow(
                # Typed: PostgreSQL cannot infer a parameter used only with IS NOT NULL.
                f"""UPDATE messages SET pinned_at = $3::timestamptz
                    WHERE id = $1 AND channel_id = $2
                      AND (pinned_at IS NULL) = ($3::timestamptz IS NOT NULL)
                    RETURNING {_COLUMNS}""",
                message.id,
                message.channel_id,
                pinned_at,
            )
            if row is not None:
                await outbox.append(conn, events)
                return _record(row)
        current = await self.get(message.channel_id, message.id)
        if current is None:
            raise _not_found(message)
        return current

    async def pinned(self, channel_id: int) -> builtins.list[ports.MessageRecord]:
        """Most recently pinned first."""
        rows = await self._db.fetch(
            "list_pinned_messages",
            f"""SELECT {_COLUMNS} FROM messages WHERE channel_id = $1 AND pinned_at IS NOT NULL
                ORDER BY pinned_at DESC, id DESC""",
            channel_id,
        )
        return [_record(row) for row in rows]

    async def add_reaction(
        self,
        message: ports.MessageRecord,
        *,
        emoji: str,
        user_id: int,
        events: Sequence[domain_events.Event],
    ) -> bool:
        async with self._db.transaction("add_reaction") as conn:
            try:
                added = await conn.fetchval(
                    """INSERT INTO reactions (message_id, emoji, user_id) VALUES ($1, $2, $3)
                       ON CONFLICT DO NOTHING RETURNING true""",
                    message.id,
                    emoji,
                    user_id,
                )
            except asyncpg.ForeignKeyViolationError as exc:
                if exc.constraint_name == "reactions_message_id_fkey":
                    raise _not_found(message) from None
                raise
            if added:
                await outbox.append(conn, events)
        return bool(added)

    async def remove_reaction(
        self,
        message: ports.MessageRecord,
        *,
        emoji: str,
        user_id: int,
        events: Sequence[domain_events.Event],
    ) -> bool:
        """True when removed, False when there was no such reaction (no events then)."""
        async with self._db.transaction("remove_reaction") as conn:
            removed = await conn.fetchval(
                """DELETE FROM reactions WHERE message_id = $1 AND emoji = $2 AND user_id = $3
                   RETURNING true""",
                message.id,
                emoji,
                user_id,
            )
            if removed:
                await outbox.append(conn, events)
        return bool(removed)

    async def reactions(
        self, message_ids: Sequence[int], *, viewer_id: int
    ) -> dict[int, builtins.list[ports.ReactionSummary]]:
        """Only messages with reactions appear; emojis in the order they were first used."""
        if not message_ids:
            return {}
        rows = await self._db.fetch(
            "list_reactions",
            """SELECT message_id, emoji, count(*) AS count, bool_or(user_id = $2) AS me
               FROM reactions WHERE message_id = ANY($1::bigint[])
               GROUP BY message_id, emoji ORDER BY message_id, min(created_at), emoji""",
            list(message_ids),
            viewer_id,
        )
        summaries: dict[int, builtins.list[ports.ReactionSummary]] = {}
        for row in rows:
            summaries.setdefault(row["message_id"], []).append(
                ports.ReactionSummary(emoji=row["emoji"], count=row["count"], me=row["me"])
            )
        return summaries

    async def reaction_users(
        self, message_id: int, *, emoji: str, after: int | None, limit: int
    ) -> builtins.list[int]:
        """User ids in ascending order, those greater than `after`."""
        paging.check_page(limit=limit, anchors={"after": after})
        rows = await self._db.fetch(
            "list_reaction_users",
            """SELECT user_id FROM reactions WHERE message_id = $1 AND emoji = $2 AND user_id > $3
               ORDER BY user_id LIMIT $4""",
            message_id,
            emoji,
            after or 0,
            limit,
        )
        return [row["user_id"] for row in rows]


def _insert_args(message: ports.MessageRecord) -> tuple[object, ...]:
    return (
        message.id,
        message.channel_id,
        message.guild_id,
        message.author_id,
        message.content,
        message.created_at,
        message.nonce,
        message.reply_to_id,
        list(message.mention_ids),
        message.mention_everyone,
        attachment_codec.dumps(message.attachments),
    )


def _require(row: asyncpg.Record | None, message: ports.MessageRecord) -> None:
    if row is None:
        raise _not_found(message)


def _not_found(message: ports.MessageRecord) -> errors.NotFound:
    return errors.NotFound("unknown message", details={"message_id": str(message.id)})


def _record(row: asyncpg.Record) -> ports.MessageRecord:
    return ports.MessageRecord(
        id=row["id"],
        channel_id=row["channel_id"],
        guild_id=row["guild_id"],
        author_id=row["author_id"],
        content=row["content"],
        created_at=row["created_at"],
        nonce=row["nonce"],
        reply_to_id=row["reply_to_id"],
        mention_ids=tuple(row["mention_ids"]),
        mention_everyone=row["mention_everyone"],
        pinned_at=row["pinned_at"],
        edited_at=row["edited_at"],
        attachments=attachment_codec.loads(row["attachments"]),
    )
