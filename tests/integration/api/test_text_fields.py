"""Every text a client sends goes through one check (`schemas.STORABLE`): a character no store
can keep (NUL, which PostgreSQL refuses in `text`; a lone surrogate, which is not UTF-8) is a
422 naming the field, never a 500, and changes nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests.fixtures.accounts import AuthService
from tests.integration.api.conftest import Api, User, error_of

NUL = "a\x00b"
SURROGATE = "a\ud800b"


@dataclass(frozen=True)
class World:
    owner: User
    member: User
    guild: str
    channel: str
    message: str
    role: str


async def _world(api: Api) -> World:
    owner, member = await api.user(), await api.user()
    guild, channel = await api.guild_with_channel(owner)
    await api.join(owner, member, guild)
    message = (await owner.post(f"/channels/{channel}/messages", json={"content": "hi"})).json()
    role = (await owner.post(f"/guilds/{guild}/roles", json={"name": "mods"})).json()
    return World(owner, member, guild, channel, message["id"], role["id"])


# (method, path, JSON body with TEXT where the bad text goes, the field the error must name)
BODY_FIELDS: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", "/channels/{channel}/messages", {"content": "TEXT"}, "content"),
    ("POST", "/channels/{channel}/messages", {"content": "hi", "nonce": "TEXT"}, "nonce"),
    ("PATCH", "/channels/{channel}/messages/{message}", {"content": "TEXT"}, "content"),
    ("POST", "/guilds", {"name": "TEXT"}, "name"),
    ("POST", "/guilds", {"name": "ok", "description": "TEXT"}, "description"),
    ("PATCH", "/guilds/{guild}", {"name": "TEXT"}, "name"),
    ("PATCH", "/guilds/{guild}", {"description": "TEXT"}, "description"),
    ("POST", "/guilds/{guild}/channels", {"name": "TEXT"}, "name"),
    ("POST", "/guilds/{guild}/channels", {"name": "ok", "topic": "TEXT"}, "topic"),
    ("PATCH", "/channels/{channel}", {"name": "TEXT"}, "name"),
    ("PATCH", "/channels/{channel}", {"topic": "TEXT"}, "topic"),
    ("POST", "/guilds/{guild}/roles", {"name": "TEXT"}, "name"),
    ("PATCH", "/guilds/{guild}/roles/{role}", {"name": "TEXT"}, "name"),
    ("PATCH", "/guilds/{guild}/members/{owner_id}", {"nick": "TEXT"}, "nick"),
    ("PUT", "/guilds/{guild}/bans/{member_id}", {"reason": "TEXT"}, "reason"),
    ("PATCH", "/users/@me", {"display_name": "TEXT"}, "display_name"),
    ("PATCH", "/users/@me", {"bio": "TEXT"}, "bio"),
]


def _path(template: str, world: World) -> str:
    return template.format(
        guild=world.guild,
        channel=world.channel,
        message=world.message,
        role=world.role,
        owner_id=world.owner.id,
        member_id=world.member.id,
    )


def _body(template: dict[str, Any], text: str) -> bytes:
    # json.dumps writes a lone surrogate as the escape "\ud800", as a client's JSON would.
    return json.dumps({k: text if v == "TEXT" else v for k, v in template.items()}).encode()


async def _snapshot(world: World) -> list[Any]:
    """What the refused requests could have changed."""
    owner = world.owner
    return [
        (await owner.get(f"/guilds/{world.guild}")).json(),
        (await owner.get(f"/guilds/{world.guild}/channels")).json(),
        (await owner.get(f"/guilds/{world.guild}/roles")).json(),
        (await owner.get(f"/guilds/{world.guild}/members")).json(),
        (await owner.get(f"/channels/{world.channel}/messages")).json(),
        (await owner.get("/users/@me/guilds")).json(),
        (await owner.get("/users/@me")).json(),
    ]


@pytest.mark.parametrize("text", [NUL, SURROGATE], ids=["nul", "lone-surrogate"])
@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    BODY_FIELDS,
    ids=[f"{method} {path} {field}" for method, path, _, field in BODY_FIELDS],
)
async def test_unstorable_text_in_a_body_is_a_422_naming_the_field(
    api: Api, method: str, path: str, body: dict[str, Any], field: str, text: str
) -> None:
    world = await _world(api)
    before = await _snapshot(world)
    response = await world.owner.request(
        method,
        _path(path, world),
        content=_body(body, text),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert error["details"][0]["field"] == field, error
    assert await _snapshot(world) == before


async def test_unstorable_search_text_is_a_422_naming_q(api: Api) -> None:
    # (Query and path bytes that are not UTF-8 arrive as U+FFFD: only NUL is left to refuse.)
    world = await _world(api)
    response = await world.owner.get(f"/guilds/{world.guild}/messages/search?q=a%00b")
    assert response.status_code == 422, response.text
    assert error_of(response)["details"][0]["field"] == "query.q"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "GET"])
async def test_unstorable_reaction_emoji_is_a_422_naming_it(api: Api, method: str) -> None:
    world = await _world(api)
    base = f"/channels/{world.channel}/messages/{world.message}/reactions/a%00b"
    response = await world.owner.request(method, base if method == "GET" else base + "/@me")
    assert response.status_code == 422, response.text
    assert error_of(response)["details"][0]["field"] == "path.emoji"
    message = (await world.owner.get(f"/channels/{world.channel}/messages/{world.message}")).json()
    assert message["reactions"] == []


AUTH_FIELDS: list[tuple[str, dict[str, Any], str]] = [
    ("/auth/login", {"login": "TEXT", "password": "correct horse battery"}, "login"),
    ("/auth/login", {"login": "ada", "password": "TEXT"}, "password"),
    (
        "/auth/register",
        {"username": "TEXT", "email": "ada@example.com", "password": "correct horse"},
        "username",
    ),
    (
        "/auth/register",
        {"username": "ada", "email": "TEXT@example.com", "password": "correct horse"},
        "email",
    ),
    (
        "/auth/register",
        {"username": "ada", "email": "ada@example.com", "password": "correct TEXT horse"},
        "password",
    ),
    ("/auth/refresh", {"refresh_token": "TEXT"}, "refresh_token"),
    ("/auth/confirm-email", {"token": "TEXT"}, "token"),
    ("/auth/resend-confirmation", {"email": "TEXT@example.com"}, "email"),
]


@pytest.mark.parametrize("text", [NUL, SURROGATE], ids=["nul", "lone-surrogate"])
@pytest.mark.parametrize(
    ("path", "body", "field"), AUTH_FIELDS, ids=[f"{p} {f}" for p, _, f in AUTH_FIELDS]
)
async def test_unstorable_text_sent_to_auth_is_a_422_naming_the_field(
    auth_service: AuthService, path: str, body: dict[str, Any], field: str, text: str
) -> None:
    filled = {k: v.replace("TEXT", text) for k, v in body.items()}
    response = await auth_service.client.post(
        path, content=json.dumps(filled).encode(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert error_of(response)["details"][0]["field"] == field, response.text
    assert auth_service.mails() == []
