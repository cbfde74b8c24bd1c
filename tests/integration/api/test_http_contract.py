"""The HTTP contract every endpoint shares: the error envelope, input limits, ops endpoints."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from fastapi.routing import APIRoute

from gochat.api.app import build_app as build_api
from gochat.api.routers import ROUTERS
from gochat.auth import app as auth_app
from gochat.auth import failures  # noqa: F401  (defines the auth service's error codes)
from gochat.core import errors, http
from tests.fixtures import accounts
from tests.integration.api.conftest import Api, User, api_config, error_of

DOCS = Path(__file__).resolve().parents[3] / "docs"


async def _guild_count(api: Api) -> int:
    conn = await asyncpg.connect(api.dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM guilds"))
    finally:
        await conn.close()


async def test_malformed_json_is_400_and_writes_nothing(api: Api) -> None:
    owner = await api.user()
    response = await owner.post(
        "/guilds", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400 and error_of(response)["code"] == "malformed_json"
    assert await _guild_count(api) == 0


async def test_unknown_fields_are_named(api: Api) -> None:
    owner = await api.user()
    response = await owner.post("/guilds", json={"name": "ok", "colour": "red"})
    assert response.status_code == 422
    assert error_of(response)["details"] == [{"field": "colour", "reason": "unknown field"}]
    assert await _guild_count(api) == 0


async def test_over_long_strings_are_named(api: Api) -> None:
    owner = await api.user()
    response = await owner.post("/guilds", json={"name": "x" * 101})
    assert response.status_code == 422 and error_of(response)["details"][0]["field"] == "name"
    assert await _guild_count(api) == 0


async def test_oversize_body_is_413(api: Api) -> None:
    owner = await api.user()
    huge = "x" * (api.ctx.config.max_body_bytes + 1)
    response = await owner.post("/guilds", json={"name": huge})
    assert response.status_code == 413 and error_of(response)["code"] == "payload_too_large"
    assert await _guild_count(api) == 0


async def test_bad_ids_are_named(api: Api) -> None:
    owner = await api.user()
    for bad in ["abc", "-1", "0", "99999999999999999999"]:
        response = await owner.get(f"/guilds/{bad}")
        assert response.status_code == 422, bad
        assert error_of(response)["details"][0]["field"] == "path.guild_id"


async def test_unknown_route_and_method_use_the_envelope(api: Api) -> None:
    assert error_of(await api.client.get("/nope"))["code"] == "not_found"
    wrong = await api.client.put("/healthz")
    assert wrong.status_code == 405 and error_of(wrong)["code"] == "method_not_allowed"


async def test_probes_and_metrics(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    assert (await api.client.get("/readyz")).status_code == 200
    owner = await api.user()
    await owner.post("/guilds", json={"name": "metered"})
    metrics = (await api.client.get("/metrics")).text
    assert 'route="/guilds"' in metrics and "gochat_http_request_duration_seconds" in metrics
    assert (
        'gochat_http_requests_total{method="POST",route="/guilds",service="api",status="201"}'
        in metrics
    )
    assert 'name="create_guild"' in metrics
    assert (await api.client.get("/healthz")).headers["x-request-id"]


async def test_openapi_documents_every_route_and_the_error_envelope(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in [
        "/guilds",
        "/guilds/{guild_id}/roles",
        "/channels/{channel_id}/messages",
        "/invites/{code}/accept",
        "/users/@me",
    ]:
        assert path in paths
    create = paths["/channels/{channel_id}/messages"]["post"]
    assert {"401", "403", "404", "422", "429"} <= set(create["responses"])


async def test_only_a_bearer_token_is_accepted(api: Api) -> None:
    owner = await api.user()
    token = owner.headers["Authorization"].partition(" ")[2]
    for authorization in [None, "", "Bearer", "Bearer ", f"Basic {token}", token]:
        headers = {} if authorization is None else {"Authorization": authorization}
        response = await api.client.get("/users/@me", headers=headers)
        assert response.status_code == 401, authorization
        assert error_of(response) == {
            "code": "unauthorized",
            "message": "missing bearer token",
            "details": None,
        }
    lower = await api.client.get("/users/@me", headers={"Authorization": f"bearer {token}"})
    assert lower.status_code == 200


async def test_openapi_documents_the_bearer_scheme_on_authenticated_routes(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"] == {
        "HTTPBearer": {
            "type": "http",
            "description": "Access token from the auth service",
            "scheme": "bearer",
        }
    }
    send = spec["paths"]["/channels/{channel_id}/messages"]["post"]
    assert send["security"] == [{"HTTPBearer": []}]
    assert "security" not in spec["paths"]["/healthz"]["get"]


def test_no_route_of_one_router_matches_a_path_of_another() -> None:
    """ROUTERS is ordered busiest first, for speed: safe only while no request could match
    routes of two routers (then the order would decide which one serves it)."""
    routes = [
        (index, route)
        for index, router in enumerate(ROUTERS)
        for route in router.routes
        if isinstance(route, APIRoute)
    ]
    for index, route in routes:
        example = re.sub(r"\{[^}]+\}", "123", route.path)
        for other_index, other in routes:
            if other_index != index and route.methods & other.methods:
                assert not other.path_regex.match(example), (route.path, other.path)


# Fields of an update body where null means nothing sensible (a name, a position, a permission
# set): 422 naming the field, nothing written. (path template, field)
NULL_REFUSED = [
    ("/guilds/{guild}", "name"),
    ("/channels/{channel}", "name"),
    ("/channels/{channel}", "position"),
    ("/guilds/{guild}/roles/{role}", "name"),
    ("/guilds/{guild}/roles/{role}", "permissions"),
    ("/guilds/{guild}/roles/{role}", "color"),
    ("/guilds/{guild}/roles/{role}", "mentionable"),
    ("/guilds/{guild}/roles/{role}", "hoist"),
    ("/guilds/{guild}/members/{owner}", "role_ids"),
]


async def _guild_channel_role(api: Api) -> tuple[User, dict[str, str]]:
    owner = await api.user()
    guild, channel = await api.guild_with_channel(owner)
    role = (await owner.post(f"/guilds/{guild}/roles", json={"name": "mods"})).json()["id"]
    return owner, {"guild": guild, "channel": channel, "role": role, "owner": str(owner.id)}


@pytest.mark.parametrize(("template", "field"), NULL_REFUSED)
async def test_null_for_a_field_that_cannot_be_cleared_is_a_422_naming_it(
    api: Api, template: str, field: str
) -> None:
    owner, ids = await _guild_channel_role(api)
    path = template.format(**ids)
    before = (await owner.get(path)).json()
    response = await owner.patch(path, json={field: None})
    assert response.status_code == 422, response.text
    assert error_of(response)["details"][0]["field"] == field
    assert (await owner.get(path)).json() == before


async def test_null_clears_the_fields_where_clearing_means_something(api: Api) -> None:
    owner, ids = await _guild_channel_role(api)
    guild, channel = ids["guild"], ids["channel"]
    category = (
        await owner.post(f"/guilds/{guild}/channels", json={"name": "c", "type": "category"})
    ).json()["id"]
    set_values = {
        f"/channels/{channel}": {"topic": "t", "parent_id": category},
        f"/guilds/{guild}": {"description": "d", "icon_url": "https://x.test/i.png"},
        f"/guilds/{guild}/members/{owner.id}": {"nick": "n"},
        "/users/@me": {"display_name": "D", "bio": "b", "avatar_url": "https://x.test/a.png"},
    }
    for path, values in set_values.items():
        assert (await owner.patch(path, json=values)).status_code == 200, path
        cleared = await owner.patch(path, json=dict.fromkeys(values))
        assert cleared.status_code == 200, cleared.text
        assert all(cleared.json()[field] is None for field in values), cleared.json()


@pytest.mark.parametrize(
    ("template", "body", "field"),
    [
        ("/guilds/{guild}/roles/{role}", {"color": True}, "color"),
        ("/guilds/{guild}/roles/{role}", {"permissions": True}, "permissions"),
        ("/guilds/{guild}/roles/{role}", {"hoist": "true"}, "hoist"),
        ("/guilds/{guild}/roles/{role}", {"mentionable": 1}, "mentionable"),
        ("/guilds/{guild}/roles/{role}", {"name": 5}, "name"),
        ("/channels/{channel}", {"position": "3"}, "position"),
        ("/channels/{channel}", {"position": 2.5}, "position"),
        ("/channels/{channel}", {"parent_id": True}, "parent_id"),
        ("/channels/{channel}", {"parent_id": "٣"}, "parent_id"),
        ("/channels/{channel}", {"parent_id": "0003"}, "parent_id"),
    ],
)
async def test_types_are_strict(
    api: Api, template: str, body: dict[str, object], field: str
) -> None:
    owner, ids = await _guild_channel_role(api)
    path = template.format(**ids)
    before = (await owner.get(path)).json()
    response = await owner.patch(path, json=body)
    assert response.status_code == 422, response.text
    assert error_of(response)["details"][0]["field"] == field
    assert (await owner.get(path)).json() == before


async def test_ids_in_the_path_take_ascii_digits_only(api: Api) -> None:
    owner = await api.user()
    for bad in ["\u0663", "\uff13", "\u00b2", "007", "+3", " 3"]:
        response = await owner.get(f"/channels/{bad}")
        assert response.status_code == 422, (bad, response.text)
        assert error_of(response)["details"][0]["field"] == "path.channel_id"


async def test_unknown_query_parameters_are_refused_everywhere(api: Api) -> None:
    owner, ids = await _guild_channel_role(api)
    for path in [
        f"/guilds/{ids['guild']}/channels?limt=5",
        f"/channels/{ids['channel']}/messages?limt=5",
        f"/guilds/{ids['guild']}/messages/search?q=x&limt=5",
        "/users/@me?limt=5",
        "/healthz?limt=5",
    ]:
        response = await owner.get(path)
        assert response.status_code == 422, (path, response.text)
        assert error_of(response)["details"] == [
            {"field": "query.limt", "reason": "unknown parameter"}
        ]
    assert (await owner.get(f"/channels/{ids['channel']}/messages?limit=5")).status_code == 200


async def test_a_405_lists_every_method_of_the_resource(api: Api) -> None:
    owner, ids = await _guild_channel_role(api)
    response = await owner.put(f"/channels/{ids['channel']}")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PATCH"
    me = await owner.patch(f"/guilds/{ids['guild']}/members/@me", json={})
    assert me.status_code == 405, me.text
    assert error_of(me)["code"] == "method_not_allowed" and me.headers["allow"] == "DELETE"
    assert (await owner.post("/users/@me")).headers["allow"] == "GET, PATCH"


async def test_bodies_that_cannot_be_decoded_are_malformed_json(api: Api) -> None:
    owner = await api.user()
    deep = b"[" * 5000 + b"]" * 5000
    for body in [b'{"name": "\xff\xfe"}', deep, b'{"name": "ok"}\x00']:
        response = await owner.post(
            "/guilds", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, (body[:20], response.text)
        assert error_of(response)["code"] == "malformed_json"
    assert await _guild_count(api) == 0


async def test_openapi_declares_id_bounds_nullability_and_metrics_as_text(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    guild_id = spec["paths"]["/guilds/{guild_id}"]["get"]["parameters"][0]["schema"]
    assert {"type": "integer", "minimum": 1, "maximum": 2**63 - 1} in guild_id["anyOf"]
    schemas = spec["components"]["schemas"]
    for model in ["ChannelUpdate", "GuildUpdate", "RoleUpdate"]:
        name = schemas[model]["properties"]["name"]
        assert name["type"] == "string" and "anyOf" not in name, (model, name)
    assert "null" in str(schemas["ChannelUpdate"]["properties"]["topic"])
    metrics = spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]


def test_every_error_code_a_service_can_send_is_documented() -> None:
    """docs/api.md lists every code of the shared HTTP layer and of gochat.core.errors (what the
    API raises); docs/auth.md every code of the auth service's own failures."""
    shared = {
        cls.code for cls in _subclasses(errors.GoChatError) if cls.__module__ == errors.__name__
    }
    shared |= set(http.HTTP_ERROR_CODES.values()) | {"malformed_json", "not_ready"}
    in_api_doc = set(re.findall(r"`([a-z_]+)`", (DOCS / "api.md").read_text()))
    assert shared <= in_api_doc, sorted(shared - in_api_doc)
    auth_codes = {cls.code for cls in _subclasses(errors.GoChatError)} - shared
    in_auth_doc = set(re.findall(r"`([a-z_]+)`", (DOCS / "auth.md").read_text()))
    assert auth_codes <= in_auth_doc, sorted(auth_codes - in_auth_doc)


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    return found.union(*(_subclasses(sub) for sub in list(found)))


def _request_strings(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, schema) of every string a client can send: body properties (through $refs,
    arrays and anyOf), path and query parameters."""
    components = document.get("components", {}).get("schemas", {})

    def walk(where: str, schema: dict[str, Any], seen: frozenset[str]) -> Iterator[Any]:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                yield from walk(where, components[name], seen | {name})
            return
        if schema.get("type") == "string":
            yield where, schema
        for branch in schema.get("anyOf", []) + schema.get("allOf", []):
            yield from walk(where, branch, seen)
        if "items" in schema:
            yield from walk(f"{where}[]", schema["items"], seen)
        for prop, sub in schema.get("properties", {}).items():
            yield from walk(f"{where}.{prop}", sub, seen)

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            at = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                yield from walk(f"{at} {parameter['name']}", parameter["schema"], frozenset())
            for media in operation.get("requestBody", {}).get("content", {}).values():
                yield from walk(f"{at} body", media["schema"], frozenset())


def test_every_text_a_client_sends_is_declared_without_nul() -> None:
    """Every text goes through schemas.STORABLE, whose schema (or the field's own pattern)
    excludes NUL: so the documents say it, and schemathesis holds the services to it."""
    keys = Path(tempfile.mkdtemp(prefix="gochat-openapi-"))
    try:
        documents = [
            build_api(api_config("postgresql://unused@127.0.0.1:9/x", "nats://127.0.0.1:9")),
            auth_app.build_app(accounts.auth_config("postgresql://unused@127.0.0.1:9/x", keys)),
        ]
        strings = [found for app in documents for found in _request_strings(app.openapi())]
    finally:
        shutil.rmtree(keys, ignore_errors=True)
    assert len(strings) > 40
    for where, schema in strings:
        if "enum" in schema or "const" in schema:
            continue
        assert "pattern" in schema, where
        assert not re.search(schema["pattern"], "a\x00"), (where, schema["pattern"])


async def test_auth_shares_the_contract(auth_service: accounts.AuthService) -> None:
    client = auth_service.client
    wrong = await client.put("/auth/login")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    unknown = await client.get("/.well-known/jwks.json?kid=x")
    assert unknown.status_code == 422
    assert error_of(unknown)["details"] == [{"field": "query.kid", "reason": "unknown parameter"}]
    for body in [b'{"login": "\xff"}', b"[" * 5000 + b"]" * 5000]:
        response = await client.post(
            "/auth/login", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400 and error_of(response)["code"] == "malformed_json"
    strict = await client.post("/auth/login", json={"login": 5, "password": "x"})
    assert strict.status_code == 422 and error_of(strict)["details"][0]["field"] == "login"
