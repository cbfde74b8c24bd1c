"""The users and channels the MessageStore suite writes into, and builders for its messages
and events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from pydantic import BaseModel

from gochat import ports
from gochat.adapters.postgres import database
from gochat.core import events, ids, schemas

GUILD = 9000
GENERAL, RANDOM = 9100, 9200
ALICE, BOB, CAROL = 101, 102, 103
REACTORS = tuple(range(201, 213))  # twelve more users, to page through
_snowflakes = ids.SnowflakeGenerator(11)


@dataclass(frozen=True)
class MessageStoreHarness:
    store: ports.MessageStore
    # Every event the adapter recorded (in the order it will publish them).
    recorded_events: Callable[[], Awaitable[list[events.Event]]]

    async def event_types(self) -> list[str]:
        return [event.type for event in await self.recorded_events()]


async def create(db: database.Database) -> None:
    async with db.transaction("create_message_world") as conn:
        await conn.executemany(
            """INSERT INTO users (id, username, email, password_hash)
               VALUES ($1, 'user' || $1::bigint, 'user' || $1::bigint || '@example.test', 'x')""",
            [(user_id,) for user_id in (ALICE, BOB, CAROL, *REACTORS)],
        )
        await conn.execute(
            "INSERT INTO guilds (id, name, owner_id) VALUES ($1, 'g', $2)", GUILD, ALICE
        )
        await conn.executemany(
            "INSERT INTO channels (id, type, guild_id, name) VALUES ($1, 'text', $2, $3)",
            [(GENERAL, GUILD, "general"), (RANDOM, GUILD, "random")],
        )


def new_message(
    content: str = "hello",
    *,
    channel_id: int = GENERAL,
    author_id: int = ALICE,
    nonce: str | None = None,
    reply_to_id: int | None = None,
    mention_ids: tuple[int, ...] = (),
    mention_everyone: bool = False,
) -> ports.MessageRecord:
    message_id = _snowflakes.next_id()
    return ports.MessageRecord(
        id=message_id,
        channel_id=channel_id,
        guild_id=GUILD,
        author_id=author_id,
        content=content,
        # Whole milliseconds: what every store keeps exactly.
        created_at=ids.created_at(message_id),
        nonce=nonce,
        reply_to_id=reply_to_id,
        mention_ids=mention_ids,
        mention_everyone=mention_everyone,
    )


def created(message: ports.MessageRecord) -> list[events.Event]:
    author = schemas.User(id=message.author_id, username="author", created_at=message.created_at)
    payload = schemas.Message(
        id=message.id,
        channel_id=message.channel_id,
        guild_id=message.guild_id,
        author=author,
        content=message.content,
        created_at=message.created_at,
    )
    return [_guild_event("MESSAGE_CREATE", payload, message)]


def updated(message: ports.MessageRecord, content: str) -> list[events.Event]:
    [event] = created(replace(message, content=content))
    return [event.model_copy(update={"type": "MESSAGE_UPDATE"})]


def deleted(message: ports.MessageRecord) -> list[events.Event]:
    payload = events.MessageDeleted(
        id=message.id, channel_id=message.channel_id, guild_id=message.guild_id
    )
    return [_guild_event("MESSAGE_DELETE", payload, message)]


def pins_changed(message: ports.MessageRecord, *, pinned: bool) -> list[events.Event]:
    payload = events.PinsUpdated(
        channel_id=message.channel_id, message_id=message.id, pinned=pinned
    )
    return [_guild_event("CHANNEL_PINS_UPDATE", payload, message)]


def reaction(
    message: ports.MessageRecord, *, emoji: str, user_id: int, added: bool = True
) -> list[events.Event]:
    payload = events.ReactionChanged(
        message_id=message.id,
        channel_id=message.channel_id,
        guild_id=message.guild_id,
        user_id=user_id,
        emoji=emoji,
    )
    kind = "MESSAGE_REACTION_ADD" if added else "MESSAGE_REACTION_REMOVE"
    return [_guild_event(kind, payload, message)]


def now() -> datetime:
    # Whole milliseconds, as new_message's created_at: compared after a round trip.
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _guild_event(kind: str, payload: BaseModel, message: ports.MessageRecord) -> events.Event:
    return events.build(
        kind,
        payload,
        event_id=_snowflakes.next_id(),
        scope="guild",
        scope_id=GUILD,
        guild_id=GUILD,
        channel_id=message.channel_id,
    )
