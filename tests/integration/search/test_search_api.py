"""Search through the real API: messages sent over HTTP travel outbox -> relay -> JetStream ->
indexer -> PostgreSQL full-text, and `GET /guilds/{id}/messages/search` finds them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from gochat.api.app import build_app
from gochat.core import config
from gochat.core.permissions import Permission
from gochat.embedded import process
from gochat.indexer import app as indexer_app
from gochat.ports import UploadTarget
from tests.fixtures import accounts, servers
from tests.integration.ports.blob_world import upload
from tests.integration.search.support import EventsOut, eventually, make_indexer_config

HIDE = str(int(Permission.VIEW_CHANNEL))
NO_HISTORY = str(int(Permission.READ_MESSAGE_HISTORY))


@dataclass
class Person:
    id: str
    client: httpx.AsyncClient

    async def call(self, method: str, url: str, **kw: Any) -> httpx.Response:
        return await self.client.request(method, url, **kw)

    async def ok(self, method: str, url: str, **kw: Any) -> Any:
        response = await self.call(method, url, **kw)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    async def search(self, guild_id: str, **params: Any) -> Any:
        return await self.ok("GET", f"/guilds/{guild_id}/messages/search", params=params)

    async def send(self, channel_id: str, content: str) -> Any:
        return await self.ok("POST", f"/channels/{channel_id}/messages", json={"content": content})


@dataclass
class Stack:
    transport: httpx.ASGITransport
    dsn: str
    keys_dir: Path
    app: Any

    async def person(self) -> Person:
        account = await accounts.create_account(self.dsn, self.keys_dir)
        self.app.state.ctx.verifier.load_jwks(accounts.jwks(self.keys_dir))
        client = httpx.AsyncClient(
            transport=self.transport,
            base_url="http://api.test",
            headers={"Authorization": f"Bearer {account.access_token}"},
        )
        return Person(str(account.user_id), client)


def api_config(dsn: str, nats_url: str, stream: str, **overrides: Any) -> config.ApiConfig:
    values: dict[str, Any] = {
        "pg_dsn": dsn,
        "pg_pool_min": 0,
        "pg_pool_max": 5,
        "nats_url": nats_url,
        "nats_stream": stream,
        "jwks_url": "http://127.0.0.1:9/unused",
        "outbox_poll_seconds": 0.2,
    }
    return config.ApiConfig(**(values | overrides))


@pytest.fixture
async def stack(
    search_dsn: str, nats_server: servers.NatsServer, events_out: EventsOut, tmp_path: Path
) -> AsyncIterator[Stack]:
    app = build_app(
        api_config(
            search_dsn,
            nats_server.url,
            events_out.stream,
            blob_dir=str(tmp_path / "files"),
            blob_public_url="http://api.test",
        )
    )
    indexer_cfg = make_indexer_config(search_dsn, nats_server.url, events_out.stream)
    async with app.router.lifespan_context(app), indexer_app.running_indexer(indexer_cfg):
        yield Stack(httpx.ASGITransport(app=app), search_dsn, tmp_path / "jwt", app)


@dataclass
class Guild:
    id: str
    general: str
    owner: Person
    member: Person


@pytest.fixture
async def guild(stack: Stack) -> Guild:
    owner, member = await stack.person(), await stack.person()
    created = await owner.ok("POST", "/guilds", json={"name": "search-test"})
    channels = await owner.ok("GET", f"/guilds/{created['id']}/channels")
    general = next(c for c in channels if c["type"] == "text")["id"]
    invite = await owner.ok("POST", f"/channels/{general}/invites", json={})
    await member.ok("POST", f"/invites/{invite['code']}/accept")
    return Guild(created["id"], general, owner, member)


async def create_channel(guild: Guild, name: str, *, deny: str | None = None) -> str:
    overwrites = [{"id": guild.id, "type": "role", "deny": deny}] if deny else []
    body = {"name": name, "overwrites": overwrites}
    channel = await guild.owner.ok("POST", f"/guilds/{guild.id}/channels", json=body)
    return str(channel["id"])


async def wait_total(person: Person, guild_id: str, total: int, **params: Any) -> Any:
    result: dict[str, Any] = {}

    async def reached() -> bool:
        result["body"] = await person.search(guild_id, **params)
        return bool(result["body"]["total"] == total)

    await eventually(reached, what=f"{total} results for {params}")
    return result["body"]


async def test_search_finds_posted_messages_with_snippets_and_filters(guild: Guild) -> None:
    random = await create_channel(guild, "random")
    first = await guild.owner.send(guild.general, "the release is blocked on review")
    second = await guild.member.send(random, f"<@{guild.owner.id}> review the release notes")
    third = await guild.owner.send(guild.general, "release shipped, thanks everyone")
    await guild.owner.send(guild.general, "unrelated chatter")

    body = await wait_total(guild.member, guild.id, 3, q="release")
    assert [m["id"] for m in body["messages"]] == [third["id"], second["id"], first["id"]]
    top = body["messages"][0]
    assert top["author"]["id"] == guild.owner.id
    assert top["content"] == "release shipped, thanks everyone"
    assert "<mark>release</mark>" in top["snippet"]

    async def ids(**params: Any) -> list[str]:
        return [m["id"] for m in (await guild.member.search(guild.id, **params))["messages"]]

    assert await ids(q="release", author_id=guild.member.id) == [second["id"]]
    assert await ids(q="release", mentions=guild.owner.id) == [second["id"]]
    assert await ids(q="release", channel_id=guild.general) == [third["id"], first["id"]]
    assert await ids(q="release", before=third["id"], after=first["id"]) == [second["id"]]
    assert await ids(author_id=guild.member.id) == [second["id"]]  # filters without text
    page = await guild.member.search(guild.id, q="release", limit=2, offset=2)
    assert page["total"] == 3
    assert [m["id"] for m in page["messages"]] == [first["id"]]


async def test_has_attachment_finds_only_messages_with_files(guild: Guild) -> None:
    data = b"%PDF-1.4 slides"
    spec = {"filename": "slides.pdf", "size": len(data), "content_type": "application/pdf"}
    slots = await guild.owner.ok(
        "POST", f"/channels/{guild.general}/attachments", json={"files": [spec]}
    )
    [slot] = slots["attachments"]
    target = UploadTarget(
        method=slot["upload_method"],
        url=slot["upload_url"],
        fields=slot["upload_fields"],
        headers=slot["upload_headers"],
    )
    stored = await upload(guild.owner.client, target, data)
    assert stored.status_code in (200, 204), stored.text
    body = {"content": "the slides", "attachments": [{"upload_name": slot["upload_name"]}]}
    with_file = await guild.owner.ok("POST", f"/channels/{guild.general}/messages", json=body)
    await guild.owner.send(guild.general, "the slides are coming")

    await wait_total(guild.member, guild.id, 2, q="slides")
    found = await guild.member.search(guild.id, q="slides", has="attachment")
    assert [m["id"] for m in found["messages"]] == [with_file["id"]]
    assert found["messages"][0]["attachments"][0]["filename"] == "slides.pdf"
    # `has` alone is enough to search (no text needed).
    alone = await guild.member.search(guild.id, has="attachment")
    assert [m["id"] for m in alone["messages"]] == [with_file["id"]]


async def test_hidden_channels_never_appear(guild: Guild) -> None:
    staff = await create_channel(guild, "staff", deny=HIDE)
    archive = await create_channel(guild, "archive", deny=NO_HISTORY)
    public = await guild.owner.send(guild.general, "launch party on friday")
    secret = await guild.owner.send(staff, "launch codes are 0000")
    history = await guild.owner.send(archive, "launch retrospective")

    owner_view = await wait_total(guild.owner, guild.id, 3, q="launch")
    assert {m["id"] for m in owner_view["messages"]} == {public["id"], secret["id"], history["id"]}
    member_view = await guild.member.search(guild.id, q="launch")
    assert member_view["total"] == 1
    assert [m["id"] for m in member_view["messages"]] == [public["id"]]
    hidden = await guild.member.call(
        "GET", f"/guilds/{guild.id}/messages/search", params={"q": "launch", "channel_id": staff}
    )
    assert hidden.status_code == 404

    # Access is decided at query time: hiding a channel hides its messages at once.
    await guild.owner.ok(
        "PUT",
        f"/channels/{guild.general}/permissions/{guild.id}",
        json={"type": "role", "deny": HIDE},
    )
    assert (await guild.member.search(guild.id, q="launch"))["total"] == 0


async def test_search_follows_edits_and_deletes(guild: Guild) -> None:
    kept = await guild.owner.send(guild.general, "draft agenda for monday")
    doomed = await guild.owner.send(guild.general, "draft budget, do not share")
    await wait_total(guild.member, guild.id, 2, q="draft")
    url = f"/channels/{guild.general}/messages"
    await guild.owner.ok(
        "PATCH", f"{url}/{kept['id']}", json={"content": "final agenda for monday"}
    )
    await guild.owner.ok("DELETE", f"{url}/{doomed['id']}")

    await wait_total(guild.member, guild.id, 0, q="draft")
    final = await wait_total(guild.member, guild.id, 1, q="final")
    assert final["messages"][0]["content"] == "final agenda for monday"
    assert final["messages"][0]["edited_at"] is not None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": "x", "limit": "0"}, "query.limit"),
        ({"q": "x", "limit": "101"}, "query.limit"),
        ({"q": "x", "offset": "-1"}, "query.offset"),
        ({"q": "x", "offset": "5001"}, "query.offset"),
        ({"q": "x", "author_id": "alice"}, "query.author_id"),
        ({"q": "x", "mentions": "0"}, "query.mentions"),
        ({"q": "x", "channel_id": "-5"}, "query.channel_id"),
        ({"q": "x", "has": "image"}, "query.has"),
        ({"q": "x" * 501}, "query.q"),
        ({"q": "x", "sort": "relevance"}, "query.sort"),
        ({"q": "   "}, "q"),
        ({"q": "x", "before": "100", "after": "200"}, "before"),
    ],
)
async def test_bad_parameters_are_rejected_naming_the_field(
    guild: Guild, params: dict[str, str], field: str
) -> None:
    response = await guild.member.call("GET", f"/guilds/{guild.id}/messages/search", params=params)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["field"] == field


async def test_only_members_may_search(stack: Stack, guild: Guild) -> None:
    stranger = await stack.person()
    url = f"/guilds/{guild.id}/messages/search"
    assert (await stranger.call("GET", url, params={"q": "x"})).status_code == 404
    assert (
        await stranger.call("GET", "/guilds/123/messages/search", params={"q": "x"})
    ).status_code == 404
    anonymous = httpx.AsyncClient(transport=stack.transport, base_url="http://api.test")
    assert (await anonymous.get(url, params={"q": "x"})).status_code == 401


async def test_deleting_a_channel_removes_its_messages_from_the_index(
    stack: Stack, guild: Guild
) -> None:
    doomed = await create_channel(guild, "doomed")
    await guild.owner.send(doomed, "soon to vanish")
    await wait_total(guild.owner, guild.id, 1, q="vanish")
    await guild.owner.ok("DELETE", f"/channels/{doomed}")

    async def purged() -> bool:
        conn = await asyncpg.connect(stack.dsn)
        try:
            left = await conn.fetchval(
                "SELECT count(*) FROM search_documents WHERE channel_id = $1", int(doomed)
            )
        finally:
            await conn.close()
        return bool(left == 0)

    await eventually(purged, what="the deleted channel's documents to be purged")


async def test_search_while_the_index_is_unreachable_is_unavailable(
    search_dsn: str, nats_server: servers.NatsServer, events_out: EventsOut, tmp_path: Path
) -> None:
    cfg = api_config(
        search_dsn,
        nats_server.url,
        events_out.stream,
        search_backend="opensearch",
        opensearch_url=f"http://127.0.0.1:{process.free_port()}",  # nothing listens there
    )
    app = build_app(cfg)
    async with app.router.lifespan_context(app):
        stack = Stack(httpx.ASGITransport(app=app), search_dsn, tmp_path / "jwt", app)
        owner = await stack.person()
        created = await owner.ok("POST", "/guilds", json={"name": "no-index"})
        response = await owner.call(
            "GET", f"/guilds/{created['id']}/messages/search", params={"q": "x"}
        )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
