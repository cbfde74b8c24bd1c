"""All SQL of the auth service: accounts, single-use mail tokens, sessions and rate-limit hits.

PostgreSQL is the system of record for accounts in every deployment, so (like the directory)
there is one adapter and no Protocol. The auth services open a named unit of work and call
query methods on it; they never see SQL:

    async with accounts.transaction("register") as tx:
        user = await tx.insert_user(...)
        await tx.insert_mail_token(...)

Only SHA-256 digests of mail and refresh tokens are stored: a database dump opens no account.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

import asyncpg

from gochat.adapters.postgres.accounts_limits import LimitQueries
from gochat.adapters.postgres.accounts_sessions import SessionQueries
from gochat.adapters.postgres.database import Database
from gochat.adapters.postgres.directory.base import user_from
from gochat.adapters.postgres.mail_queue import MailQueueQueries
from gochat.core import schemas

_USER_COLUMNS = "id, username, display_name, bio, avatar_url, created_at"
_ACCOUNT_COLUMNS = f"{_USER_COLUMNS}, email, password_hash, email_confirmed_at"
_UNIQUE_FIELDS = {"users_username_key": "username", "users_email_key": "email"}


class DuplicateAccount(Exception):
    """Another account already has this username or e-mail (`field` says which)."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} already taken")
        self.field = field


@dataclass(frozen=True, slots=True)
class Account:
    user: schemas.User
    email: str
    password_hash: str
    email_confirmed_at: datetime | None


class MailTokenState(Enum):
    VALID = "valid"
    EXPIRED = "expired"
    UNKNOWN = "unknown"  # never issued, already used, or issued for another purpose


@dataclass(frozen=True, slots=True)
class MailTokenUse:
    state: MailTokenState
    user_id: int | None = None


class AccountsTx(SessionQueries, LimitQueries, MailQueueQueries):
    """Query methods bound to one connection (inside one transaction for writes)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def insert_user(
        self, *, user_id: int, username: str, email: str, password_hash: str
    ) -> schemas.User:
        try:
            row = await self.conn.fetchrow(
                "INSERT INTO users (id, username, email, password_hash) VALUES ($1, $2, $3, $4) "
                f"RETURNING {_USER_COLUMNS}",
                user_id,
                username,
                email,
                password_hash,
            )
        except asyncpg.UniqueViolationError as exc:
            field = _UNIQUE_FIELDS.get(exc.constraint_name or "")
            if field is None:  # an id collision is a bug, not something the user can fix
                raise
            raise DuplicateAccount(field) from None
        assert row is not None
        return user_from(row)

    async def account_by_username(self, username: str) -> Account | None:
        row = await self.conn.fetchrow(
            f"SELECT {_ACCOUNT_COLUMNS} FROM users WHERE lower(username) = lower($1)", username
        )
        return _account_from(row) if row else None

    async def account_by_email(self, email: str) -> Account | None:
        row = await self.conn.fetchrow(
            f"SELECT {_ACCOUNT_COLUMNS} FROM users WHERE lower(email) = lower($1)", email
        )
        return _account_from(row) if row else None

    async def account_by_id(self, user_id: int) -> Account | None:
        row = await self.conn.fetchrow(
            f"SELECT {_ACCOUNT_COLUMNS} FROM users WHERE id = $1", user_id
        )
        return _account_from(row) if row else None

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        await self.conn.execute(
            "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
            user_id,
            password_hash,
        )

    async def mark_email_confirmed(self, user_id: int, *, now: datetime) -> schemas.User | None:
        """Confirm the address (keeping the first confirmation time); the user, if it exists."""
        row = await self.conn.fetchrow(
            "UPDATE users SET email_confirmed_at = coalesce(email_confirmed_at, $2), "
            f"updated_at = now() WHERE id = $1 RETURNING {_USER_COLUMNS}",
            user_id,
            now,
        )
        return user_from(row) if row else None

    async def insert_mail_token(
        self, *, token_hash: bytes, user_id: int, purpose: str, expires_at: datetime
    ) -> None:
        await self.conn.execute(
            "INSERT INTO mail_tokens (token_hash, user_id, purpose, expires_at) "
            "VALUES ($1, $2, $3, $4)",
            token_hash,
            user_id,
            purpose,
            expires_at,
        )

    async def use_mail_token(
        self, *, token_hash: bytes, purpose: str, now: datetime
    ) -> MailTokenUse:
        """Spend a single-use token: only the first caller gets VALID (the row is locked)."""
        row = await self.conn.fetchrow(
            "SELECT user_id, expires_at, used_at FROM mail_tokens "
            "WHERE token_hash = $1 AND purpose = $2 FOR UPDATE",
            token_hash,
            purpose,
        )
        if row is None or row["used_at"] is not None:
            return MailTokenUse(MailTokenState.UNKNOWN)
        if row["expires_at"] <= now:
            return MailTokenUse(MailTokenState.EXPIRED, row["user_id"])
        await self.conn.execute(
            "UPDATE mail_tokens SET used_at = $2 WHERE token_hash = $1", token_hash, now
        )
        return MailTokenUse(MailTokenState.VALID, row["user_id"])

    async def retire_mail_tokens(self, user_id: int, *, purpose: str, now: datetime) -> None:
        """Make every unused token of this purpose unusable (a newer one supersedes them)."""
        await self.conn.execute(
            "UPDATE mail_tokens SET used_at = $3 "
            "WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
            user_id,
            purpose,
            now,
        )

    async def purge_mail_tokens(self, *, before: datetime) -> int:
        result: str = await self.conn.execute(
            "DELETE FROM mail_tokens WHERE expires_at < $1", before
        )
        return int(result.split()[-1])


class Accounts:
    def __init__(self, db: Database) -> None:
        self._db = db

    @asynccontextmanager
    async def transaction(self, name: str) -> AsyncIterator[AccountsTx]:
        async with self._db.transaction(name) as conn:
            yield AccountsTx(conn)

    @asynccontextmanager
    async def read(self, name: str) -> AsyncIterator[AccountsTx]:
        async with self._db.connection(name) as conn:
            yield AccountsTx(conn)


def _account_from(row: asyncpg.Record) -> Account:
    return Account(
        user=user_from(row),
        email=row["email"],
        password_hash=row["password_hash"],
        email_confirmed_at=row["email_confirmed_at"],
    )
