"""The users, guild and channels the message benchmarks write into (PostgreSQL holds them for
both message stores), messages with crafted timestamps, and their MESSAGE_CREATE events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from gochat import ports
from gochat.adapters.postgres import database
from gochat.core import events, ids, schemas

_snowflakes = ids.SnowflakeGenerator(1001)
CRAFTED_WORKER = 1002  # worker id of the ids made at chosen (old) times


def next_id() -> int:
    return _snowflakes.next_id()


@dataclass(frozen=True)
class World:
    guild_id: int
    author: schemas.User

    async def channels(self, db: database.Database, count: int, *, label: str) -> list[int]:
        made = [next_id() for _ in range(count)]
        async with db.transaction("bench_create_channels") as conn:
            await conn.executemany(
                "INSERT INTO channels (id, type, guild_id, name) VALUES ($1, 'text', $2, $3)",
                [(channel, self.guild_id, f"{label}-{n}") for n, channel in enumerate(made)],
            )
        return made

    def message(self, channel_id: int, content: str, *, message_id: int | None = None) -> Sent:
        message_id = message_id or next_id()
        record = ports.MessageRecord(
            id=message_id,
            channel_id=channel_id,
            guild_id=self.guild_id,
            author_id=self.author.id,
            content=content,
            created_at=ids.created_at(message_id),
        )
        payload = schemas.Message(
            id=message_id,
            channel_id=channel_id,
            guild_id=self.guild_id,
            author=self.author,
            content=content,
            created_at=record.created_at,
        )
        event = events.build(
            "MESSAGE_CREATE",
            payload,
            event_id=next_id(),
            scope="guild",
            scope_id=self.guild_id,
            guild_id=self.guild_id,
            channel_id=channel_id,
        )
        return Sent(record, [event])


@dataclass(frozen=True)
class Sent:
    record: ports.MessageRecord
    events: list[events.Event]


def unsaved() -> World:
    """A guild and author with fresh ids, written nowhere."""
    author = schemas.User(id=next_id(), username="bench", created_at=datetime.now(UTC))
    return World(next_id(), author)


async def create(db: database.Database) -> World:
    """A guild and its author, stored in PostgreSQL."""
    made = unsaved()
    guild_id, author = made.guild_id, made.author
    async with db.transaction("bench_create_world") as conn:
        await conn.execute(
            """INSERT INTO users (id, username, email, password_hash)
               VALUES ($1, 'bench' || $1::bigint, 'bench' || $1::bigint || '@example.test', 'x')""",
            author.id,
        )
        await conn.execute(
            "INSERT INTO guilds (id, name, owner_id) VALUES ($1, 'bench', $2)", guild_id, author.id
        )
    return made


def crafted_id(when_ms: int, sequence: int) -> int:
    """The id a message sent at `when_ms` would have had (a worker of the benchmark's own)."""
    return ids.smallest_id_at(when_ms) | CRAFTED_WORKER << ids.SEQUENCE_BITS | sequence
