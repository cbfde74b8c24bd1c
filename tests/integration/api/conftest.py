"""The API app served in-process on a fresh migrated database, with users who hold tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from gochat.adapters.postgres import database
from gochat.api.app import build_app
from gochat.api.context import ApiContext
from gochat.core import config
from tests.fixtures import accounts


@dataclass
class User:
    id: int
    name: str
    client: httpx.AsyncClient
    headers: dict[str, str]

    async def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        headers = {**self.headers, **kw.pop("headers", {})}
        return await self.client.request(method, url, headers=headers, **kw)

    async def get(self, url: str, **kw: Any) -> httpx.Response:
        return await self.request("GET", url, **kw)

    async def post(self, url: str, **kw: Any) -> httpx.Response:
        return await self.request("POST", url, **kw)

    async def patch(self, url: str, **kw: Any) -> httpx.Response:
        return await self.request("PATCH", url, **kw)

    async def put(self, url: str, **kw: Any) -> httpx.Response:
        return await self.request("PUT", url, **kw)

    async def delete(self, url: str, **kw: Any) -> httpx.Response:
        return await self.request("DELETE", url, **kw)


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    dsn: str
    keys_dir: Path

    @property
    def ctx(self) -> ApiContext:
        ctx: ApiContext = self.app.state.ctx
        return ctx

    async def user(self, name: str | None = None) -> User:
        account = await accounts.create_account(self.dsn, self.keys_dir, username=name)
        self.ctx.verifier.load_jwks(accounts.jwks(self.keys_dir))
        return User(
            account.user_id,
            account.username,
            self.client,
            {"Authorization": f"Bearer {account.access_token}"},
        )

    async def guild_with_channel(self, owner: User, name: str = "guild") -> tuple[str, str]:
        """(guild_id, id of its default #general channel)."""
        guild = (await owner.post("/guilds", json={"name": name})).json()
        channels = (await owner.get(f"/guilds/{guild['id']}/channels")).json()
        return guild["id"], channels[0]["id"]

    async def join(self, owner: User, member: User, guild_id: str) -> None:
        channels = (await owner.get(f"/guilds/{guild_id}/channels")).json()
        text = next(c for c in channels if c["type"] == "text")
        invite = (await owner.post(f"/channels/{text['id']}/invites", json={})).json()
        response = await member.post(f"/invites/{invite['code']}/accept")
        assert response.status_code == 200, response.text


def api_config(dsn: str, nats_url: str, **overrides: Any) -> config.ApiConfig:
    values: dict[str, Any] = {
        "pg_dsn": dsn,
        "pg_pool_min": 0,
        "pg_pool_max": 5,
        "nats_url": nats_url,
        "jwks_url": "http://127.0.0.1:9/unused",
        "outbox_poll_seconds": 0.2,
    }
    return config.ApiConfig(**(values | overrides))


# Session state a released connection could carry to its next borrower: the pool does not reset
# it (database._keep_session says why none is left). One query, names of what is left. The
# unnamed cursor is this query's own portal; a setting changed and set back is no leak (asyncpg
# turns `jit` off around its type introspection and then restores it with set_config).
_LEFT_ON_SESSION = """
SELECT array_remove(ARRAY[
    (SELECT 'LISTEN ' || string_agg(c, ', ') FROM pg_listening_channels() AS c),
    (SELECT 'advisory locks ' || count(*) FROM pg_locks
      WHERE locktype = 'advisory' AND pid = pg_backend_pid() HAVING count(*) > 0),
    (SELECT 'cursors ' || string_agg(name, ', ') FROM pg_cursors WHERE name <> ''),
    (SELECT 'SET ' || string_agg(name, ', ') FROM pg_settings
      WHERE source = 'session' AND setting IS DISTINCT FROM reset_val),
    (SELECT 'temporary tables ' || string_agg(relname, ', ') FROM pg_class
      WHERE relnamespace = pg_my_temp_schema())
], NULL)"""


@pytest.fixture(autouse=True)
def session_state_leaks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every connection the API's pool takes back is checked for session state; the test
    fails if any was left (a test that leaks on purpose clears the list)."""
    leaks: list[str] = []

    async def check_then_keep(conn: asyncpg.Connection) -> None:
        leaks.extend(await conn.fetchval(_LEFT_ON_SESSION))

    monkeypatch.setattr(database, "_keep_session", check_then_keep)
    yield leaks
    assert not leaks, f"pooled connections were released with session state: {leaks}"


@pytest.fixture
async def api(migrated_database: str, nats_server: Any, tmp_path: Path) -> AsyncIterator[Api]:
    app = build_app(api_config(migrated_database, nats_server.url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            yield Api(app, client, migrated_database, tmp_path / "jwt")


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    error: dict[str, Any] = body["error"]
    return error
