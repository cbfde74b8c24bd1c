"""`gochat dev --backends production` (`make dev BACKENDS=production`): the platform on
Cassandra, OpenSearch and MinIO started locally by the same launchers the tests use, walked by a
new user over real HTTP; each message, document and file is then found in its backend."""

from __future__ import annotations

import asyncio
import email
import email.policy
import io
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import boto3
import httpx
import pytest
from botocore.config import Config

from gochat import dev, dev_backends
from gochat.embedded import process
from tests.fixtures import minio

# A first run may build MinIO (minutes); later starts of the three backends take ~15-40 s.
pytestmark = pytest.mark.timeout(minio.BUILD_TIMEOUT_SECONDS)
_TOKEN = re.compile(r"^Token: (\S+)$", re.MULTILINE)
PDF = b"%PDF-1.4 the reading list"


@pytest.fixture
def platform(server_tmp_path: Path) -> Iterator[dev.DevPlatform]:
    env = {key: str(process.free_port()) for key in dev_backends.DEFAULT_PORTS}
    env |= {
        f"GOCHAT_DEV_{name}_PORT": str(process.free_port())
        for name in ("API", "AUTH", "WS", "INDEXER", "PG", "NATS", "NATS_MONITOR")
    }
    output = io.StringIO()
    running = dev.platform_from_env(
        root=server_tmp_path / "gochat", env=env, output=output, backends="production"
    )
    running.ready_timeout = 180
    try:
        running.start()
        yield running
    except BaseException:
        print(output.getvalue())
        raise
    finally:
        running.stop()


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
    address, password = f"{name}@example.com", "a long enough password"
    body = {"username": name, "email": address, "password": password}
    assert auth.post("/auth/register", json=body).status_code == 201
    token = None
    deadline = time.monotonic() + 30
    while token is None:  # the confirmation mail is queued, then written by the auth service
        try:
            token = _confirmation_token(mail_dir, address)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    confirmed = auth.post("/auth/confirm-email", json={"token": token})
    assert confirmed.status_code == 200, confirmed.text
    login = auth.post("/auth/login", json={"login": name, "password": password})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def _search(api: httpx.Client, guild_id: str, headers: dict[str, str], **params: Any) -> Any:
    """The search result once the indexer has caught up to one hit (it lags the API)."""
    deadline = time.monotonic() + 60
    while True:
        found = api.get(f"/guilds/{guild_id}/messages/search", params=params, headers=headers)
        assert found.status_code == 200, found.text
        if found.json()["total"] >= 1 or time.monotonic() > deadline:
            return found.json()
        time.sleep(0.3)


def test_make_dev_on_production_backends_serves_a_new_users_round_trip(
    platform: dev.DevPlatform,
) -> None:
    urls = platform.urls
    env = platform.child_env(port=0)
    assert env["GOCHAT_MESSAGE_STORE"] == "cassandra"
    assert env["GOCHAT_SEARCH_BACKEND"] == "opensearch"
    assert env["GOCHAT_BLOB_STORE"] == "s3"
    with (
        httpx.Client(base_url=urls["auth"], timeout=30) as auth,
        httpx.Client(base_url=urls["api"], timeout=30) as api,
    ):
        alice = _sign_up(auth, platform.root / "mail", "alice")
        guild = api.post("/guilds", json={"name": "Book club"}, headers=alice)
        assert guild.status_code == 201, guild.text
        guild_id = guild.json()["id"]
        channel = api.post(f"/guilds/{guild_id}/channels", json={"name": "fiction"}, headers=alice)
        assert channel.status_code == 201, channel.text
        channel_id = channel.json()["id"]

        spec = {"filename": "list.pdf", "size": len(PDF), "content_type": "application/pdf"}
        slots = api.post(
            f"/channels/{channel_id}/attachments", json={"files": [spec]}, headers=alice
        )
        assert slots.status_code == 200, slots.text
        [slot] = slots.json()["attachments"]
        assert slot["upload_url"].startswith(env["GOCHAT_S3_ENDPOINT"])
        stored = httpx.post(
            slot["upload_url"], data=slot["upload_fields"], files={"file": ("blob", PDF)}
        )
        assert stored.status_code in (200, 204), stored.text
        body = {"content": "Dune, anyone?", "attachments": [{"upload_name": slot["upload_name"]}]}
        sent = api.post(f"/channels/{channel_id}/messages", json=body, headers=alice)
        assert sent.status_code == 201, sent.text
        message_id = sent.json()["id"]

        history = api.get(f"/channels/{channel_id}/messages", headers=alice).json()
        assert [m["id"] for m in history] == [message_id]
        assert history[0]["attachments"][0]["filename"] == "list.pdf"
        found = _search(api, guild_id, alice, q="dune")
        assert [m["id"] for m in found["messages"]] == [message_id]
        assert "<mark>Dune</mark>" in found["messages"][0]["snippet"]
        with_files = _search(api, guild_id, alice, has="attachment")
        assert [m["id"] for m in with_files["messages"]] == [message_id]
        for name in ("api", "auth", "ws", "indexer"):
            assert httpx.get(f"{urls[name]}/readyz", timeout=10).status_code == 200

    # Each piece is where the production backends keep it, not in PostgreSQL or a folder.
    assert asyncio.run(_postgres_message_count(urls["postgres"])) == 0
    document = httpx.get(f"{env['GOCHAT_OPENSEARCH_URL']}/gochat-messages.read/_doc/{message_id}")
    assert document.json()["_source"]["has_attachment"] is True
    s3 = boto3.client(
        "s3",
        endpoint_url=env["GOCHAT_S3_ENDPOINT"],
        region_name=env["GOCHAT_S3_REGION"],
        aws_access_key_id=env["GOCHAT_S3_ACCESS_KEY_ID"],
        aws_secret_access_key=env["GOCHAT_S3_SECRET_ACCESS_KEY"],
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=env["GOCHAT_S3_BUCKET"])["Contents"]]
    assert any(key.startswith(f"attachments/{channel_id}/") for key in keys), keys


async def _postgres_message_count(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM messages"))
    finally:
        await conn.close()


def test_production_backends_read_their_ports_and_a_bad_choice_is_refused(
    tmp_path: Path,
) -> None:
    running = dev.platform_from_env(
        root=tmp_path,
        env={"GOCHAT_DEV_OPENSEARCH_PORT": "9201", "GOCHAT_DEV_MINIO_PORT": "9002"},
        backends="production",
    )
    assert [backend.name for backend in running.backends] == ["cassandra", "opensearch", "minio"]
    env = running.child_env(port=1)
    assert env["GOCHAT_OPENSEARCH_URL"] == "http://127.0.0.1:9201"
    assert env["GOCHAT_S3_ENDPOINT"] == "http://127.0.0.1:9002"
    assert env["GOCHAT_CASSANDRA_HOSTS"] == "127.0.0.1:19042"  # the default
    assert not dev.platform_from_env(root=tmp_path, env={}).backends
    with pytest.raises(dev.PlatformError, match="GOCHAT_DEV_CASSANDRA_PORT"):
        dev.platform_from_env(
            root=tmp_path, env={"GOCHAT_DEV_CASSANDRA_PORT": "x"}, backends="production"
        )
    with pytest.raises(dev.PlatformError, match="backends='cloud'"):
        dev.platform_from_env(root=tmp_path, env={}, backends="cloud")
