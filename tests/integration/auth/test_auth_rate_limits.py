"""Brute-force limits: 429 with Retry-After, per account and per client IP, shared by replicas."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.fixtures import accounts
from tests.fixtures.accounts import DEFAULT_PASSWORD

_STARTED = datetime.now(UTC)


def frozen_clock() -> datetime:
    """A clock that stands still, so no test straddles the end of a limit window."""
    return _STARTED


def assert_limited(response: httpx.Response, *, scope: str, window: int) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "rate_limited"
    assert response.json()["error"]["details"]["scope"] == scope
    assert 1 <= int(response.headers["retry-after"]) <= window


def limited_config(dsn: str, tmp_path: Path, **limits: Any) -> Any:
    return accounts.auth_config(dsn, tmp_path, **limits)


async def test_login_attempts_per_account_are_limited_from_any_address(
    migrated_database: str, tmp_path: Path
) -> None:
    cfg = limited_config(
        migrated_database, tmp_path, login_attempts_per_account=3, trusted_proxy_hops=1
    )
    async with accounts.serve_auth(cfg, clock=frozen_clock) as service:
        await service.register_confirmed(username="ada", email="ada@example.com")  # attempt 1
        for n in range(2):
            await service.client.post(
                "/auth/login",
                json={"login": "ada@example.com", "password": "guess"},
                headers={"X-Forwarded-For": f"198.51.100.{n}"},
            )

        response = await service.client.post(
            "/auth/login",
            json={"login": "ada", "password": DEFAULT_PASSWORD},
            headers={"X-Forwarded-For": "198.51.100.99"},
        )

    assert_limited(response, scope="login_account", window=900)


async def test_login_attempts_per_ip_are_limited_across_accounts(
    migrated_database: str, tmp_path: Path
) -> None:
    cfg = limited_config(migrated_database, tmp_path, login_attempts_per_ip=3)
    async with accounts.serve_auth(cfg, clock=frozen_clock) as service:
        for name in ("a1", "a2", "a3"):
            await service.client.post("/auth/login", json={"login": name, "password": "guess"})

        response = await service.client.post(
            "/auth/login", json={"login": "a4", "password": "guess"}
        )
        metrics = (await service.client.get("/metrics")).text

    assert_limited(response, scope="login_ip", window=900)
    assert 'gochat_auth_logins_total{result="rate_limited"}' in metrics


async def test_a_spoofed_forwarded_for_does_not_escape_the_ip_limit(
    migrated_database: str, tmp_path: Path
) -> None:
    cfg = limited_config(migrated_database, tmp_path, login_attempts_per_ip=2, trusted_proxy_hops=1)
    async with accounts.serve_auth(cfg, clock=frozen_clock) as service:
        responses = [
            await service.client.post(
                "/auth/login",
                json={"login": f"user{n}", "password": "guess"},
                # The client prepends whatever it likes; our one proxy appends what it saw.
                headers={"X-Forwarded-For": f"192.0.2.{n}, 10.9.8.7"},
            )
            for n in range(3)
        ]

    assert [r.status_code for r in responses[:2]] == [401, 401]
    assert_limited(responses[2], scope="login_ip", window=900)


async def test_forwarded_for_is_ignored_without_trusted_proxies(
    migrated_database: str, tmp_path: Path
) -> None:
    cfg = limited_config(migrated_database, tmp_path, login_attempts_per_ip=2)
    async with accounts.serve_auth(cfg, clock=frozen_clock) as service:
        responses = [
            await service.client.post(
                "/auth/login",
                json={"login": f"user{n}", "password": "guess"},
                headers={"X-Forwarded-For": f"192.0.2.{n}"},
            )
            for n in range(3)
        ]

    assert_limited(responses[2], scope="login_ip", window=900)


async def test_registrations_per_ip_are_limited_and_the_refused_one_writes_nothing(
    migrated_database: str, tmp_path: Path
) -> None:
    cfg = limited_config(migrated_database, tmp_path, register_per_ip=2)
    async with accounts.serve_auth(cfg, clock=frozen_clock) as service:
        for name in ("ada", "bob", "cyd"):
            response = await service.client.post(
                "/auth/register",
                json={"username": name, "email": f"{name}@example.com", "password": "long enough"},
            )
        mails = service.mails()

    assert_limited(response, scope="register_ip", window=3600)
    assert [m["To"] for m in mails] == ["ada@example.com", "bob@example.com"]


async def test_reset_requests_per_account_are_limited_whether_or_not_it_exists(
    migrated_database: str, tmp_path: Path
) -> None:
    cfg = limited_config(migrated_database, tmp_path, reset_per_account=2)
    async with accounts.serve_auth(cfg, clock=frozen_clock) as service:
        await service.register_confirmed(username="ada", email="ada@example.com")
        answers = {}
        for address in ("ada@example.com", "nobody@example.com"):
            for _ in range(2):
                await service.client.post("/auth/password-reset/request", json={"email": address})
            answers[address] = await service.client.post(
                "/auth/password-reset/request", json={"email": address.upper()}
            )
        resets = service.mails(kind="reset_password")

    for response in answers.values():
        assert_limited(response, scope="mail_account", window=3600)
    assert len(resets) == 2


async def test_reset_requests_per_ip_are_limited(migrated_database: str, tmp_path: Path) -> None:
    cfg = limited_config(migrated_database, tmp_path, reset_per_ip=2)
    async with accounts.serve_auth(cfg, clock=frozen_clock) as service:
        for n in range(2):
            await service.client.post(
                "/auth/resend-confirmation", json={"email": f"u{n}@example.com"}
            )
        response = await service.client.post(
            "/auth/password-reset/request", json={"email": "u9@example.com"}
        )

    assert_limited(response, scope="mail_ip", window=3600)


async def test_limits_are_shared_by_replicas(migrated_database: str, tmp_path: Path) -> None:
    cfg_a = limited_config(migrated_database, tmp_path / "a", login_attempts_per_ip=3)
    cfg_b = limited_config(migrated_database, tmp_path / "b", login_attempts_per_ip=3)
    async with (
        accounts.serve_auth(cfg_a, clock=frozen_clock) as replica_a,
        accounts.serve_auth(cfg_b, clock=frozen_clock) as replica_b,
    ):
        for replica in (replica_a, replica_b, replica_a):
            await replica.client.post("/auth/login", json={"login": "x", "password": "guess"})

        response = await replica_b.client.post(
            "/auth/login", json={"login": "y", "password": "guess"}
        )

    assert_limited(response, scope="login_ip", window=900)
