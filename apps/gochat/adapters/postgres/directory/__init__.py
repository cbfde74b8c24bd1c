"""The relational directory: users, guilds, members, roles, channels, overwrites, invites, bans.

PostgreSQL is the system of record for these in every deployment (only message timelines, search,
files and mail have alternative backends), so there is one adapter and no Protocol. Services open
a named unit of work and call query methods on it; they never see SQL:

    async with directory.transaction("create_guild") as tx:
        guild = await tx.insert_guild(...)
        await tx.emit([events.build(...)])
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg

from gochat.adapters.postgres import outbox
from gochat.adapters.postgres.database import Database
from gochat.adapters.postgres.directory.access import AccessQueries
from gochat.adapters.postgres.directory.channels import ChannelQueries
from gochat.adapters.postgres.directory.guilds import GuildQueries
from gochat.adapters.postgres.directory.invites import InviteQueries
from gochat.adapters.postgres.directory.roles import RoleQueries
from gochat.adapters.postgres.directory.users import UserQueries
from gochat.core.events import Event


class DirectoryTx(
    UserQueries, GuildQueries, RoleQueries, ChannelQueries, InviteQueries, AccessQueries
):
    """Query methods bound to one connection (and, for writes, one transaction)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def emit(self, events: Sequence[Event]) -> None:
        """Record events in this transaction; they are published once it commits."""
        await outbox.append(self.conn, events)


class Directory:
    def __init__(self, db: Database) -> None:
        self._db = db

    @asynccontextmanager
    async def transaction(self, name: str) -> AsyncIterator[DirectoryTx]:
        async with self._db.transaction(name) as conn:
            yield DirectoryTx(conn)

    @asynccontextmanager
    async def read(self, name: str) -> AsyncIterator[DirectoryTx]:
        async with self._db.connection(name) as conn:
            yield DirectoryTx(conn)
