"""The Cassandra message tables as the store reads and writes them: every statement (prepared
once at start, tables named with their keyspace) and the mapping between rows and
`ports.MessageRecord`. Nothing is ever bound as null: an absent value is left unset."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cassandra.query import UNSET_VALUE

from gochat import ports
from gochat.adapters import attachment_codec
from gochat.core.ids import bucket_of

COLUMNS = """message_id, channel_id, guild_id, author_id, content, created_at, nonce,
              reply_to_id, mention_ids, mention_everyone, pinned_at, edited_at, attachments"""
KEY = "channel_id = ? AND bucket = ? AND message_id"
# Every query the store runs, prepared once when the store is opened.
STATEMENTS = {
    "claim_nonce": """INSERT INTO {ks}.message_nonces (channel_id, author_id, nonce, message_id)
                      VALUES (?, ?, ?, ?) IF NOT EXISTS""",
    "release_nonce": """DELETE FROM {ks}.message_nonces
                        WHERE channel_id = ? AND author_id = ? AND nonce = ? IF message_id = ?""",
    "add_bucket": "INSERT INTO {ks}.channel_buckets (channel_id, bucket) VALUES (?, ?)",
    "insert_message": f"""INSERT INTO {{ks}}.messages (bucket, {COLUMNS}) VALUES
                          (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?""",
    "remove_message": f"DELETE FROM {{ks}}.messages WHERE {KEY} = ?",
    "get_message": f"SELECT {COLUMNS} FROM {{ks}}.messages WHERE {KEY} = ?",
    "edit_message": f"""UPDATE {{ks}}.messages SET content = ?, edited_at = ?, mention_ids = ?,
                        mention_everyone = ? WHERE {KEY} = ? IF EXISTS""",
    "delete_message": f"DELETE FROM {{ks}}.messages WHERE {KEY} = ? IF EXISTS",
    # An edit finished by the sweep: only onto the state it was made from.
    "replay_edit": f"""UPDATE {{ks}}.messages SET content = ?, edited_at = ?, mention_ids = ?,
                       mention_everyone = ? WHERE {KEY} = ?
                       IF author_id = ? AND edited_at = ?""",
    "buckets_down": """SELECT bucket FROM {ks}.channel_buckets
                       WHERE channel_id = ? AND bucket <= ? ORDER BY bucket DESC LIMIT ?""",
    "buckets_up": """SELECT bucket FROM {ks}.channel_buckets
                     WHERE channel_id = ? AND bucket >= ? ORDER BY bucket ASC LIMIT ?""",
    "page_newest": f"""SELECT {COLUMNS} FROM {{ks}}.messages WHERE channel_id = ? AND bucket = ?
                       LIMIT ?""",
    "page_before": f"""SELECT {COLUMNS} FROM {{ks}}.messages WHERE {KEY} < ? LIMIT ?""",
    "page_from": f"""SELECT {COLUMNS} FROM {{ks}}.messages WHERE {KEY} >= ?
                     ORDER BY message_id ASC LIMIT ?""",
    "pin_message": f"""UPDATE {{ks}}.messages SET pinned_at = ? WHERE {KEY} = ?
                       IF author_id = ? AND pinned_at = null""",
    "unpin_message": f"DELETE pinned_at FROM {{ks}}.messages WHERE {KEY} = ? IF pinned_at = ?",
    "add_pin": "INSERT INTO {ks}.channel_pins (channel_id, pinned_at, message_id) VALUES (?, ?, ?)",
    "remove_pin": """DELETE FROM {ks}.channel_pins
                     WHERE channel_id = ? AND pinned_at = ? AND message_id = ?""",
    "list_pins": "SELECT pinned_at, message_id FROM {ks}.channel_pins WHERE channel_id = ?",
    # A reaction row is told apart from another of the same user and emoji by its timeuuid,
    # chosen by the change (recorded in its intent), not by the server.
    "add_reaction": """INSERT INTO {ks}.reactions (message_id, emoji, user_id, reacted_at)
                       VALUES (?, ?, ?, ?) IF NOT EXISTS""",
    "get_reaction": """SELECT reacted_at FROM {ks}.reactions
                       WHERE message_id = ? AND emoji = ? AND user_id = ?""",
    "remove_reaction": """DELETE FROM {ks}.reactions
                          WHERE message_id = ? AND emoji = ? AND user_id = ? IF reacted_at = ?""",
    "remove_reactions": "DELETE FROM {ks}.reactions WHERE message_id = ?",
    "list_reactions": """SELECT message_id, emoji, user_id, reacted_at FROM {ks}.reactions
                         WHERE message_id IN ?""",
    "reaction_users": """SELECT user_id FROM {ks}.reactions
                         WHERE message_id = ? AND emoji = ? AND user_id > ? LIMIT ?""",
}


def key(message: ports.MessageRecord) -> tuple[int, int, int]:
    return message.channel_id, bucket_of(message.id), message.id


def unset_if_none(value: object) -> object:
    """None is left unset, never written: a null cell would be a tombstone."""
    return UNSET_VALUE if value is None else value


def insert_values(message: ports.MessageRecord) -> tuple[object, ...]:
    return (
        message.id,
        message.channel_id,
        unset_if_none(message.guild_id),
        message.author_id,
        message.content,
        message.created_at,
        unset_if_none(message.nonce),
        unset_if_none(message.reply_to_id),
        list(message.mention_ids) if message.mention_ids else UNSET_VALUE,
        message.mention_everyone,
        unset_if_none(message.pinned_at),
        unset_if_none(message.edited_at),
        attachment_codec.dumps(message.attachments) if message.attachments else UNSET_VALUE,
    )


def utc(moment: datetime | None) -> datetime | None:
    # The driver returns timestamps as naive datetimes in UTC.
    return None if moment is None else moment.replace(tzinfo=UTC)


def record(row: dict[str, Any]) -> ports.MessageRecord:
    return ports.MessageRecord(
        id=row["message_id"],
        channel_id=row["channel_id"],
        guild_id=row["guild_id"],
        author_id=row["author_id"],
        content=row["content"],
        created_at=row["created_at"].replace(tzinfo=UTC),
        nonce=row["nonce"],
        reply_to_id=row["reply_to_id"],
        mention_ids=tuple(row["mention_ids"] or ()),
        mention_everyone=bool(row["mention_everyone"]),
        pinned_at=utc(row["pinned_at"]),
        edited_at=utc(row["edited_at"]),
        attachments=attachment_codec.loads(row["attachments"]),
    )
