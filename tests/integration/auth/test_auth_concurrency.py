"""Races the database must settle: parallel requests on one pool, as from several replicas."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from tests.fixtures import accounts
from tests.fixtures.accounts import AuthService

_STARTED = datetime.now(UTC)


def frozen_clock() -> datetime:
    return _STARTED


async def test_two_refreshes_racing_with_one_token_revoke_the_session(
    auth_service: AuthService,
) -> None:
    pair = await auth_service.register_confirmed(username="ada", email="ada@example.com")
    body = {"refresh_token": pair["refresh_token"]}

    first, second = await asyncio.gather(
        auth_service.client.post("/auth/refresh", json=body),
        auth_service.client.post("/auth/refresh", json=body),
    )

    statuses = sorted([first.status_code, second.status_code])
    assert statuses == [200, 401]
    winner = first if first.status_code == 200 else second
    loser = second if winner is first else first
    assert loser.json()["error"]["code"] == "refresh_token_reused"
    # The winner's successor belongs to the revoked session too.
    after = await auth_service.client.post(
        "/auth/refresh", json={"refresh_token": winner.json()["refresh_token"]}
    )
    assert after.status_code == 401


async def test_a_confirmation_token_raced_twice_confirms_once(auth_service: AuthService) -> None:
    await auth_service.client.post(
        "/auth/register",
        json={"username": "ada", "email": "ada@example.com", "password": "long enough"},
    )
    token = auth_service.latest_token(kind="confirm_email", to="ada@example.com")

    responses = await asyncio.gather(
        *[auth_service.client.post("/auth/confirm-email", json={"token": token}) for _ in range(5)]
    )

    assert sorted(r.status_code for r in responses) == [200, 400, 400, 400, 400]


async def test_parallel_guesses_cannot_exceed_the_limit(
    migrated_database: str, tmp_path: Path
) -> None:
    cfg = accounts.auth_config(migrated_database, tmp_path, login_attempts_per_ip=5, pg_pool_max=8)
    async with accounts.serve_auth(cfg, clock=frozen_clock) as service:
        responses = await asyncio.gather(
            *[
                service.client.post("/auth/login", json={"login": f"u{n}", "password": "guess"})
                for n in range(12)
            ]
        )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [401] * 5 + [429] * 7


async def test_racing_registrations_of_one_name_create_one_account(
    auth_service: AuthService, sql
) -> None:
    responses = await asyncio.gather(
        *[
            auth_service.client.post(
                "/auth/register",
                json={"username": "Ada", "email": f"ada{n}@example.com", "password": "long enough"},
            )
            for n in range(4)
        ]
    )

    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    assert await sql.count("users") == 1
