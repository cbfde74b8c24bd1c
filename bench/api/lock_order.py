"""Which lock does a blocked send hold? Holds a channel's row in one session (as a channel edit
does before it appends its events), sends a message to that channel in another, and prints the
advisory (outbox) locks the waiting sender holds: none is the right answer, since a writer that
changes the channel and then appends takes the row first and the outbox lock second.

    .venv/bin/python -m bench.api.lock_order
    PYTHONPATH=<exported apps/> .venv/bin/python -m bench.api.lock_order   # another commit
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from gochat import ports
from gochat.adapters.postgres import database, messages, migrations
from gochat.core import events
from gochat.embedded import postgres, process

MIGRATIONS = Path(__file__).resolve().parents[2] / "db" / "pgmigrations"


async def _seed(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "INSERT INTO users (id, username, email, password_hash) VALUES (1, 'a', 'a@x', 'h')"
    )
    await conn.execute("INSERT INTO guilds (id, name, owner_id) VALUES (10, 'g', 1)")
    await conn.execute(
        "INSERT INTO channels (id, type, guild_id, name) VALUES (20, 'text', 10, 'c')"
    )


def _send(store: messages.PostgresMessageStore) -> asyncio.Task[None]:
    record = ports.MessageRecord(
        id=100, channel_id=20, guild_id=10, author_id=1, content="hi", created_at=datetime.now(UTC)
    )
    payload = events.MessageDeleted(id=100, channel_id=20, guild_id=10)  # any guild event will do
    event = events.build(
        "MESSAGE_DELETE", payload, event_id=5, scope="guild", scope_id=10, guild_id=10,
        channel_id=20,
    )  # fmt: skip
    return asyncio.create_task(store.create(record, events=[event]))


async def main() -> None:
    server = postgres.EmbeddedPostgres(
        data_dir=Path(tempfile.mkdtemp(prefix="gochat-lock-order-")), port=process.free_port()
    )
    server.start()
    try:
        await migrations.apply(server.dsn, MIGRATIONS)
        observer, holder = await asyncpg.connect(server.dsn), await asyncpg.connect(server.dsn)
        await _seed(observer)
        edit = holder.transaction()
        await edit.start()
        await holder.execute("UPDATE channels SET topic = 'x' WHERE id = 20")
        db = await database.Database.connect(server.dsn, service="lock-order")
        send = _send(messages.PostgresMessageStore(db))
        await asyncio.sleep(1.0)
        held = await observer.fetch(
            """SELECT l.mode FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
               WHERE l.locktype = 'advisory' AND l.granted AND a.pid <> $1""",
            holder.get_server_pid(),
        )
        waiting = not send.done()
        print(f"send blocked by the held row: {waiting}; outbox locks it holds meanwhile: "
              f"{len(held)} ({'WRONG ORDER' if held else 'ok'})")  # fmt: skip
        await edit.rollback()
        await asyncio.wait_for(send, 10)
        await db.close()
        await holder.close()
        await observer.close()
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
