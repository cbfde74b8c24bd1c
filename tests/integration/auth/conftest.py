"""Auth integration tests: the real app in-process over ASGI, on a fresh migrated database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from tests.fixtures.accounts import AuthService


@dataclass(frozen=True)
class Sql:
    """Direct reads (and time travel) on the test database, to check what was written."""

    dsn: str

    async def value(self, query: str, *args: Any) -> Any:
        conn = await asyncpg.connect(self.dsn)
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()

    async def count(self, table: str) -> int:
        count: int = await self.value(f"SELECT count(*) FROM {table}")
        return count

    async def execute(self, query: str, *args: Any) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            await conn.execute(query, *args)
        finally:
            await conn.close()


@pytest.fixture
def sql(auth_service: AuthService) -> Sql:
    return Sql(auth_service.config.pg_dsn)
