"""What every service has, as the auth service has it: probes, metrics, body limits, the error
envelope, the OpenAPI document, config errors at start, and serving as `gochat auth`."""

from __future__ import annotations

import asyncio
import email
import email.message
import email.policy
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gochat import ports
from gochat.core import tokens
from gochat.embedded import process
from tests.fixtures import accounts
from tests.fixtures.accounts import AuthService, mail_token


async def test_probes_report_live_and_ready(auth_service: AuthService) -> None:
    health = await auth_service.client.get("/healthz")
    ready = await auth_service.client.get("/readyz")

    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200


async def test_readiness_fails_while_the_database_is_unreachable(tmp_path: Path) -> None:
    dead_dsn = f"postgresql://gochat:gochat@127.0.0.1:{process.free_port()}/gochat"
    async with accounts.serve_auth(accounts.auth_config(dead_dsn, tmp_path)) as service:
        ready = await service.client.get("/readyz")
        health = await service.client.get("/healthz")

    assert ready.status_code == 503
    assert ready.json()["error"]["code"] == "not_ready"
    assert "database" in ready.json()["error"]["details"]
    assert health.status_code == 200


async def test_metrics_count_registrations_logins_and_refreshes(auth_service: AuthService) -> None:
    pair = await auth_service.register_confirmed(username="ada", email="ada@example.com")
    await auth_service.client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    await auth_service.client.post("/auth/refresh", json={"refresh_token": "bogus"})

    text = (await auth_service.client.get("/metrics")).text

    assert "gochat_auth_registrations_total " in text
    assert 'gochat_auth_logins_total{result="ok"}' in text
    assert 'gochat_auth_token_refreshes_total{result="ok"}' in text
    assert 'gochat_auth_token_refreshes_total{result="invalid"}' in text
    assert 'route="/auth/register"' in text


async def test_oversize_body_is_refused_before_anything_is_written(
    auth_service: AuthService, sql
) -> None:
    body = {"username": "ada", "email": "ada@example.com", "password": "p" * 100_000}

    response = await auth_service.client.post("/auth/register", json=body)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert await sql.count("users") == 0


async def test_unknown_route_and_wrong_method_use_the_envelope(auth_service: AuthService) -> None:
    missing = await auth_service.client.get("/auth/nothing")
    wrong = await auth_service.client.get("/auth/login")

    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"


async def test_openapi_documents_every_route_and_body(auth_service: AuthService) -> None:
    document = (await auth_service.client.get("/openapi.json")).json()

    routes = {
        ("post", "/auth/register"),
        ("post", "/auth/confirm-email"),
        ("post", "/auth/resend-confirmation"),
        ("post", "/auth/login"),
        ("post", "/auth/refresh"),
        ("post", "/auth/logout"),
        ("post", "/auth/password-reset/request"),
        ("post", "/auth/password-reset/confirm"),
        ("post", "/auth/password/change"),
        ("get", "/.well-known/jwks.json"),
    }
    for method, path in routes:
        operation = document["paths"][path][method]
        assert operation["summary"]
        assert "429" in operation["responses"] or path == "/.well-known/jwks.json"
        if method == "post":
            assert operation["requestBody"]["required"]
    login_errors = document["paths"]["/auth/login"]["post"]["responses"]
    assert "email_not_confirmed" in login_errors["403"]["content"]["application/json"]["examples"]
    refresh_errors = document["paths"]["/auth/refresh"]["post"]["responses"]["401"]
    assert refresh_errors["description"] == "`invalid_refresh_token` or `refresh_token_reused`"
    schemas = document["components"]["schemas"]
    assert schemas["RegisterRequest"]["additionalProperties"] is False
    assert schemas["TokenPair"]["required"] == [
        "access_token",
        "expires_in",
        "refresh_token",
        "user",
    ]


class _BrokenMailer:
    async def send(self, mail: ports.OutgoingMail) -> None:
        raise ConnectionRefusedError("mail relay down")


async def test_a_failed_mail_does_not_fail_registration(
    migrated_database: str, tmp_path: Path
) -> None:
    cfg = accounts.auth_config(migrated_database, tmp_path)
    async with accounts.serve_auth(cfg, mailer=_BrokenMailer()) as service:
        response = await service.client.post(
            "/auth/register",
            json={"username": "ada", "email": "ada@example.com", "password": "long enough"},
        )
        resend = await service.client.post(
            "/auth/resend-confirmation", json={"email": "ada@example.com"}
        )

    assert response.status_code == 201
    assert resend.status_code == 202


def run_gochat(
    env: dict[str, str], *args: str, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gochat", *args],
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"GOCHAT_ACCESS_TOKEN_TTL_SECONDS": "5"}, "access_token_ttl_seconds"),
        ({"GOCHAT_JWT_ACTIVE_KID": "absent"}, "jwt_active_kid"),
        ({"GOCHAT_MAILER": "sendpulse"}, "sendpulse_client_id"),
        ({"GOCHAT_SMTP_SECURITY": "ssl"}, "smtp_security"),
    ],
)
def test_a_bad_setting_stops_the_service_with_one_line_naming_the_key(
    tmp_path: Path, env: dict[str, str], key: str
) -> None:
    base = {"GOCHAT_JWT_KEYS_DIR": str(tmp_path / "jwt"), "GOCHAT_CONFIG": ""}
    result = run_gochat(base | env, "auth")

    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"gochat auth: config error: {key}: ")


@pytest.fixture
def served_auth(
    migrated_database: str, tmp_path: Path
) -> Iterator[tuple[str, Path, subprocess.Popen[str]]]:
    """`gochat auth` as its own process on a free port; (base URL, key folder, process)."""
    port = process.free_port()
    keys_dir = tmp_path / "jwt"
    env = os.environ | {
        "GOCHAT_PORT": str(port),
        "GOCHAT_PG_DSN": migrated_database,
        "GOCHAT_JWT_KEYS_DIR": str(keys_dir),
        "GOCHAT_MAIL_OUTBOX_DIR": str(tmp_path / "mail"),
        "GOCHAT_LOG_LEVEL": "info",
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "gochat", "auth"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        up = process.wait_until(
            lambda: process.port_in_use("127.0.0.1", port),
            timeout=30,
            alive=lambda: child.poll() is None,
        )
        assert up, child.stderr.read() if child.stderr and child.poll() is not None else "timeout"
        yield f"http://127.0.0.1:{port}", keys_dir, child
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


async def wait_for_mail(outbox: Path) -> email.message.EmailMessage:
    """The first .eml in the outbox; mails are written after the response, so poll."""
    arrived = await asyncio.to_thread(
        process.wait_until, lambda: any(outbox.glob("*.eml")), timeout=15
    )
    assert arrived, f"no mail in {outbox}"
    data = await asyncio.to_thread(lambda: min(outbox.glob("*.eml")).read_bytes())
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


async def test_gochat_auth_serves_the_whole_flow_over_http_and_stops_on_sigterm(
    served_auth: tuple[str, Path, subprocess.Popen[str]],
) -> None:
    url, keys_dir, child = served_auth
    account = {"username": "ada", "email": "ada@example.com", "password": "long enough"}
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        assert (await client.get("/readyz")).status_code == 200
        assert (await client.post("/auth/register", json=account)).status_code == 201
        mail = await wait_for_mail(keys_dir.parent / "mail")
        confirm = await client.post("/auth/confirm-email", json={"token": mail_token(mail)})
        login = await client.post(
            "/auth/login", json={"login": "ada", "password": account["password"]}
        )
        verifier = tokens.TokenVerifier(
            jwks_url=f"{url}/.well-known/jwks.json", issuer="gochat", client=client
        )
        claims = await verifier.verify(login.json()["access_token"])
        jwks = await client.get("/.well-known/jwks.json")

    assert confirm.status_code == 200
    assert claims.user_id == int(login.json()["user"]["id"])
    [key] = jwks.json()["keys"]
    key_file = keys_dir / f"{key['kid']}.pem"
    assert stat.S_IMODE(await asyncio.to_thread(lambda: key_file.stat().st_mode)) == 0o600
    child.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(child.wait, 20) == 0
    assert child.stderr is not None
    assert "Application shutdown complete" in child.stderr.read()
