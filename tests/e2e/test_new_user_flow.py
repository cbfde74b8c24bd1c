"""The flow a new user walks, against the platform started exactly as `make dev` starts it:
real PostgreSQL and NATS, `gochat migrate`, every service as its own process, real HTTP."""

from __future__ import annotations

import email
import email.policy
import io
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gochat import dev
from gochat.embedded import process

pytestmark = pytest.mark.slow
_TOKEN = re.compile(r"^Token: (\S+)$", re.MULTILINE)


@pytest.fixture(scope="module")
def platform() -> Iterator[dev.DevPlatform]:
    root = Path(tempfile.mkdtemp(prefix="gochat-e2e-"))
    services = [
        dev.Service(s.name, process.free_port(), s.command) for s in dev.available_services({})
    ]
    running = dev.DevPlatform(
        root=root,
        services=services,
        pg_port=process.free_port(),
        nats_port=process.free_port(),
        nats_monitor_port=process.free_port(),
        output=io.StringIO(),
        ready_timeout=90,
    )
    try:
        running.start()
        yield running
    finally:
        running.stop()
        shutil.rmtree(root, ignore_errors=True)


def _confirmation_token(mail_dir: Path, address: str) -> str:
    for path in sorted(mail_dir.glob("*.eml"), reverse=True):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == address and message["X-GoChat-Kind"] == "confirm_email":
            body = message.get_body(("plain",))  # type: ignore[attr-defined]
            match = _TOKEN.search(body.get_content())
            assert match
            return match[1]
    raise AssertionError(f"no confirmation mail for {address} in {mail_dir}")


def _sign_up(auth: httpx.Client, mail_dir: Path, name: str) -> dict[str, str]:
    address = f"{name}@example.com"
    password = "a long enough password"
    registered = auth.post(
        "/auth/register", json={"username": name, "email": address, "password": password}
    )
    assert registered.status_code == 201, registered.text
    refused = auth.post("/auth/login", json={"login": name, "password": password})
    assert refused.status_code in (401, 403), "unconfirmed accounts must not log in"
    confirmed = auth.post(
        "/auth/confirm-email", json={"token": _confirmation_token(mail_dir, address)}
    )
    assert confirmed.status_code == 200, confirmed.text
    login = auth.post("/auth/login", json={"login": name, "password": password})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def test_register_confirm_login_guild_invite_post_and_read(platform: dev.DevPlatform) -> None:
    urls = platform.urls
    mail_dir = platform.root / "mail"
    with (
        httpx.Client(base_url=urls["auth"], timeout=30) as auth,
        httpx.Client(base_url=urls["api"], timeout=30) as api,
    ):
        alice = _sign_up(auth, mail_dir, "alice")
        bob = _sign_up(auth, mail_dir, "bob")
        guild = api.post("/guilds", json={"name": "Book club"}, headers=alice)
        assert guild.status_code == 201, guild.text
        guild_id = guild.json()["id"]
        channel = api.post(f"/guilds/{guild_id}/channels", json={"name": "fiction"}, headers=alice)
        assert channel.status_code == 201, channel.text
        channel_id = channel.json()["id"]
        invite = api.post(
            f"/channels/{channel_id}/invites", json={"max_uses": 1}, headers=alice
        ).json()
        assert api.get(f"/channels/{channel_id}/messages", headers=bob).status_code == 404
        joined = api.post(f"/invites/{invite['code']}/accept", headers=bob)
        assert joined.status_code == 200, joined.text
        assert (
            api.post(
                f"/channels/{channel_id}/messages", json={"content": "Dune, anyone?"}, headers=alice
            ).status_code
            == 201
        )
        assert (
            api.post(
                f"/channels/{channel_id}/messages", json={"content": "Yes! Chapter 1"}, headers=bob
            ).status_code
            == 201
        )
        for reader in (alice, bob):
            history = api.get(f"/channels/{channel_id}/messages", headers=reader).json()
            assert [m["content"] for m in history] == ["Yes! Chapter 1", "Dune, anyone?"]
            assert [m["author"]["username"] for m in history] == ["bob", "alice"]
        for name in ("api", "auth"):
            assert httpx.get(f"{urls[name]}/readyz", timeout=10).status_code == 200
            assert "gochat_http_requests_total" in httpx.get(f"{urls[name]}/metrics").text
