"""Schemathesis over both OpenAPI documents, against the real API and auth services.

Both services run under uvicorn on free ports (the API verifies tokens against the auth
service's JWKS, as deployed), on a fresh migrated database, the session's NATS behind the API.
Every operation of each document is fuzzed with a fixed seed and a bounded number of examples
per operation, with schemathesis's default checks: no 5xx, every status, content type, header
and body as documented, documented input accepted (2xx, 401, 403, 404, 409 or 429) and input
the schema excludes refused (4xx). Path ids that schemathesis makes up as valid ids are
replaced by the ids of a guild the caller owns (a channel, a role, a message, a member, an
invite), made afresh for each operation, so that deep paths are reached, not just 404s.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
import uvicorn
from fastapi import FastAPI
from schemathesis.specs.openapi.checks import positive_data_acceptance

from gochat.adapters.postgres import migrations
from gochat.api.app import build_app as build_api
from gochat.auth import app as auth_app
from gochat.auth import passwords
from gochat.core import ids
from gochat.embedded import postgres, process
from tests.fixtures import accounts
from tests.fixtures.servers import NatsServer, PostgresServer
from tests.integration.api.conftest import api_config

EXAMPLES_PER_OPERATION = 5
SEED = 20261207
SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)


class _Served:
    """An ASGI app under uvicorn in a thread of its own (its own event loop), until stop()."""

    def __init__(self, app: FastAPI) -> None:
        self.port = process.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", loop="asyncio"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{app.title} did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@dataclass
class Platform:
    api: str
    auth: str
    dsn: str
    keys_dir: Path
    owner_token: str
    member_id: int


@pytest.fixture(scope="module")
def database(pg_server: PostgresServer) -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:16]}"
    names = {"database": name, "owner": pg_server.user}
    postgres.run_sql(
        pg_server.admin_dsn,
        "SELECT format('CREATE DATABASE %I OWNER %I', :'database', :'owner') \\gexec\n",
        variables=names,
    )
    try:
        dsn = pg_server.dsn_for(name)
        asyncio.run(migrations.apply(dsn, migrations.default_directory()))
        yield dsn
    finally:
        postgres.run_sql(
            pg_server.admin_dsn,
            "SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'database') \\gexec\n",
            variables=names,
        )


@pytest.fixture(scope="module")
def platform(
    database: str, nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    directory = tmp_path_factory.mktemp("schemathesis")
    auth = _Served(
        auth_app.build_app(
            accounts.auth_config(database, directory),
            password_hasher=passwords.PasswordHasher(accounts.CHEAP_ARGON2),
        )
    )
    try:
        owner = asyncio.run(accounts.create_account(database, directory / "jwt"))
        member = asyncio.run(accounts.create_account(database, directory / "jwt"))
        api_app = build_api(
            api_config(database, nats_server.url, jwks_url=f"{auth.url}/.well-known/jwks.json")
        )
        api = _Served(api_app)
        try:
            for served, document in [(api.url, API_DOCUMENT), (auth.url, AUTH_DOCUMENT)]:
                assert httpx.get(f"{served}/openapi.json").json() == document
            yield Platform(
                api.url, auth.url, database, directory / "jwt", owner.access_token, member.user_id
            )
        finally:
            api.stop()
    finally:
        auth.stop()


@dataclass
class World:
    """A guild the caller owns, with one of everything; path ids come from here."""

    ids: dict[str, str]
    headers: dict[str, str]


@pytest.fixture
def world(platform: Platform) -> World:
    headers = {"Authorization": f"Bearer {platform.owner_token}"}
    with httpx.Client(base_url=platform.api, headers=headers) as client:

        def made(method: str, path: str, **kw: Any) -> Any:
            response = client.request(method, path, **kw)
            assert response.status_code in (200, 201), response.text
            return response.json()

        guild = made("POST", "/guilds", json={"name": "fuzzed"})["id"]
        channel = made("GET", f"/guilds/{guild}/channels")[0]["id"]
        role = made("POST", f"/guilds/{guild}/roles", json={"name": "r"})["id"]
        message = made("POST", f"/channels/{channel}/messages", json={"content": "hi"})["id"]
        invite = made("POST", f"/channels/{channel}/invites", json={})["code"]
    return World(
        ids={
            "guild_id": guild,
            "channel_id": channel,
            "role_id": role,
            "message_id": message,
            "target_id": role,
            "user_id": str(platform.member_id),
            "code": invite,
        },
        headers=headers,
    )


def _with_real_ids(case: schemathesis.Case, world: World) -> None:
    """Ids schemathesis made up as valid (so in a positive case) name the world's things;
    anything else (a malformed id of a negative case) is left as generated."""
    for name, value in (case.path_parameters or {}).items():
        if name in world.ids and _valid_id(value):
            case.path_parameters[name] = world.ids[name]


def _valid_id(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 0 < value <= ids.MAX_ID
    return isinstance(value, str) and value.isascii() and value.isdigit() and value[0] != "0"


def _documents() -> tuple[dict[str, Any], dict[str, Any]]:
    """Both OpenAPI documents as the services build them (the same code serves them; the
    `platform` fixture checks that what is served is this). Built at collection, with configs
    that open nothing: schemathesis makes one test per operation from them."""
    keys = Path(tempfile.mkdtemp(prefix="gochat-openapi-"))
    try:
        api = build_api(api_config("postgresql://unused@127.0.0.1:9/x", "nats://127.0.0.1:9"))
        auth = auth_app.build_app(accounts.auth_config("postgresql://unused@127.0.0.1:9/x", keys))
        return api.openapi(), auth.openapi()
    finally:
        shutil.rmtree(keys, ignore_errors=True)


API_DOCUMENT, AUTH_DOCUMENT = _documents()
api_schema = schemathesis.openapi.from_dict(API_DOCUMENT)
auth_schema = schemathesis.openapi.from_dict(AUTH_DOCUMENT)


# Input a JSON Schema cannot tell from valid input: rules across fields, or about what is
# stored. For these operations (and only these), a schema-valid request may also get the status
# named here; every other check stays as it is. (method, path) -> (status, the rule)
STATEFUL_RULES: dict[tuple[str, str], tuple[int, str]] = {
    ("GET", "/channels/{channel_id}/messages"): (422, "at most one of before/after/around"),
    ("POST", "/channels/{channel_id}/messages"): (
        422,
        "reply_to_id: a message of this channel; attachments: the caller's uploads",
    ),
    ("GET", "/guilds/{guild_id}/messages/search"): (422, "before above after"),
    ("POST", "/guilds/{guild_id}/channels"): (422, "parent_id: a category of this guild"),
    ("PATCH", "/channels/{channel_id}"): (422, "parent_id: a category of this guild"),
    ("PATCH", "/guilds/{guild_id}/channels"): (422, "ids: channels of this guild"),
    ("PATCH", "/guilds/{guild_id}/roles"): (422, "ids: roles of this guild"),
    ("PUT", "/channels/{channel_id}/permissions/{target_id}"): (
        422,
        "the target: a role or member of this guild; bits: known flags",
    ),
    ("POST", "/guilds/{guild_id}/roles"): (422, "permissions: known flags"),
    ("PATCH", "/guilds/{guild_id}/roles/{role_id}"): (422, "permissions: known flags"),
    ("POST", "/users/@me/channels"): (422, "recipient_id: not the caller"),
    ("POST", "/channels/{channel_id}/attachments"): (422, "content_type: one the server allows"),
    ("POST", "/auth/register"): (422, "email: what email-validator accepts"),
    ("POST", "/auth/resend-confirmation"): (422, "email: what email-validator accepts"),
    ("POST", "/auth/password-reset/request"): (422, "email: what email-validator accepts"),
    ("POST", "/auth/confirm-email"): (400, "token: one that was mailed (invalid_token)"),
    ("POST", "/auth/password-reset/confirm"): (400, "token: one that was mailed (invalid_token)"),
}
ACCEPTED = {401, 403, 404, 409, 429}  # schemathesis's own list for valid input, besides 2xx


def _call_and_validate(case: schemathesis.Case, *, base_url: str, headers: dict[str, str]) -> None:
    rule = STATEFUL_RULES.get((case.method.upper(), case.path))
    if rule is None:
        case.call_and_validate(base_url=base_url, headers=headers)
        return
    response = case.call_and_validate(
        base_url=base_url, headers=headers, excluded_checks=[positive_data_acceptance]
    )
    if case.meta is not None and case.meta.generation.mode.is_positive:
        status = response.status_code
        assert 200 <= status < 300 or status in ACCEPTED | {rule[0]}, (
            f"{case.method} {case.path}: schema-valid input got {status}: {response.text}"
        )


@api_schema.parametrize()
@SETTINGS
@hypothesis.seed(SEED)
def test_api_answers_every_operation_as_its_openapi_document_says(
    case: schemathesis.Case, platform: Platform, world: World
) -> None:
    _with_real_ids(case, world)
    _call_and_validate(case, base_url=platform.api, headers=world.headers)


@auth_schema.parametrize()
@SETTINGS
@hypothesis.seed(SEED)
def test_auth_answers_every_operation_as_its_openapi_document_says(
    case: schemathesis.Case, platform: Platform
) -> None:
    headers = {"Authorization": f"Bearer {platform.owner_token}"}
    _call_and_validate(case, base_url=platform.auth, headers=headers)
