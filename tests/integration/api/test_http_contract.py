"""The HTTP contract every endpoint shares: the error envelope, input limits, ops endpoints."""

from __future__ import annotations

import re

import asyncpg
from fastapi.routing import APIRoute

from gochat.api.routers import ROUTERS
from tests.integration.api.conftest import Api, error_of


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
