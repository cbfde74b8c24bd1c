"""Attachments through the API, as a client uses them: ask for upload URLs, upload straight to
storage, send the message naming the uploads, download through fresh signed URLs. Every test
runs on the local folder (URLs served by the API) and on S3 (a real MinIO)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gochat.api.app import build_app
from gochat.api.services import attachments
from gochat.core import permissions
from tests.fixtures import minio
from tests.integration.api.conftest import Api, User, api_config, error_of
from tests.integration.api.test_events_from_api import _read_events
from tests.integration.ports.blob_world import upload

pytestmark = pytest.mark.timeout(minio.BUILD_TIMEOUT_SECONDS)
PNG = b"\x89PNG\r\n\x1a\n" + b"x" * 56


@dataclass
class Files:
    """The API on one blob store, and the HTTP client that reaches its storage."""

    api: Api
    storage: httpx.AsyncClient  # MinIO directly, or the API's own file route

    async def fetch(self, url: str) -> httpx.Response:
        return await self.storage.get(url)


@pytest.fixture(params=["localfs", "s3"])
async def files(
    request: pytest.FixtureRequest, migrated_database: str, nats_server: Any, tmp_path: Path
) -> AsyncIterator[Files]:
    overrides: dict[str, Any] = {
        "blob_dir": str(tmp_path / "files"),
        "blob_public_url": "http://api.test",
        "max_attachment_bytes": 4096,
        "attachment_content_types": ["image/*", "application/pdf"],
    }
    if request.param == "s3":
        server: minio.MinioServer = request.getfixturevalue("minio_server")
        overrides |= {
            "blob_store": "s3",
            "s3_endpoint": server.endpoint,
            "s3_bucket": request.getfixturevalue("s3_bucket"),
            "s3_region": server.region,
            "s3_access_key_id": server.access_key,
            "s3_secret_access_key": server.secret_key,
        }
    app = build_app(api_config(migrated_database, nats_server.url, **overrides))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            api = Api(app, client, migrated_database, tmp_path / "jwt")
            if request.param == "s3":
                async with httpx.AsyncClient() as storage:
                    yield Files(api, storage)
            else:
                yield Files(api, client)


async def _slots(user: User, channel: str, *specs: dict[str, Any]) -> httpx.Response:
    return await user.post(f"/channels/{channel}/attachments", json={"files": list(specs)})


async def _uploaded(
    files: Files, user: User, channel: str, data: bytes = PNG, **spec: Any
) -> dict[str, Any]:
    """Ask for one upload slot and fill it; the slot."""
    spec = {"filename": "cat.png", "size": len(data), "content_type": "image/png"} | spec
    response = await _slots(user, channel, spec)
    assert response.status_code == 200, response.text
    [slot] = response.json()["attachments"]
    stored = await upload(files.storage, _target(slot), data)
    assert stored.status_code in (200, 204), stored.text
    return dict(slot)


def _target(slot: dict[str, Any]) -> Any:
    from gochat import ports

    return ports.UploadTarget(
        method=slot["upload_method"],
        url=slot["upload_url"],
        fields=slot["upload_fields"],
        headers=slot["upload_headers"],
    )


async def _send(user: User, channel: str, *names: str, **extra: Any) -> httpx.Response:
    body = {"content": "look", "attachments": [{"upload_name": n} for n in names]} | extra
    return await user.post(f"/channels/{channel}/messages", json=body)


async def test_a_file_is_requested_uploaded_sent_and_downloaded(
    files: Files, nats_server: Any
) -> None:
    api = files.api
    owner = await api.user()
    guild_id, channel = await api.guild_with_channel(owner)
    slot = await _uploaded(files, owner, channel)
    sent = await _send(owner, channel, slot["upload_name"])
    assert sent.status_code == 201, sent.text
    [attachment] = sent.json()["attachments"]
    assert (attachment["filename"], attachment["size"], attachment["content_type"]) == (
        "cat.png",
        len(PNG),
        "image/png",
    )
    message_id = sent.json()["id"]
    path = f"/channels/{channel}/messages/{message_id}/attachments/{attachment['id']}"
    assert attachment["url"] == f"http://api.test{path}"
    # History and the single message carry it too.
    history = (await owner.get(f"/channels/{channel}/messages")).json()
    assert history[0]["attachments"] == [attachment]
    # Each GET signs a fresh URL; the signed URL serves the bytes under the file's name.
    redirect = await owner.get(path)
    assert redirect.status_code == 302
    assert redirect.headers["cache-control"] == "no-store"
    downloaded = await files.fetch(redirect.headers["location"])
    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.content == PNG
    assert "cat.png" in downloaded.headers["content-disposition"]
    as_json = (await owner.get(path, params={"redirect": "false"})).json()
    assert set(as_json) == {"url", "expires_at"}
    # The upload is gone: its record and object, and it cannot be sent again.
    again = await _send(owner, channel, slot["upload_name"])
    assert error_of(again)["details"][0]["field"] == "attachments[0].upload_name"
    assert await api.ctx.blobs.head(f"uploads/{slot['upload_name']}") is None
    # The event carries the attachment as the REST answer does.
    received = await _read_events(nats_server.url, f"gochat.ev.guild.{guild_id}.MESSAGE_CREATE", 1)
    assert received[-1][1].data["attachments"] == [attachment]


async def test_limits_are_refused_naming_the_file_and_field(files: Files) -> None:
    owner = await files.api.user()
    _, channel = await files.api.guild_with_channel(owner)
    ok = {"filename": "a.png", "size": 10, "content_type": "image/png"}
    cases = [
        ({**ok, "size": 4097}, "files[1].size"),
        ({**ok, "content_type": "text/html"}, "files[1].content_type"),
        ({**ok, "filename": "../a.png"}, "filename"),
    ]
    for bad, field in cases:
        response = await _slots(owner, channel, ok, bad)
        assert response.status_code == 422, response.text
        assert field in str(error_of(response)["details"]), response.text
    async with files.api.ctx.db.connection("count") as conn:
        assert await conn.fetchval("SELECT count(*) FROM attachment_uploads") == 0


async def test_one_byte_more_than_declared_is_refused_by_the_storage(files: Files) -> None:
    owner = await files.api.user()
    _, channel = await files.api.guild_with_channel(owner)
    response = await _slots(
        owner, channel, {"filename": "a.png", "size": 10, "content_type": "image/png"}
    )
    [slot] = response.json()["attachments"]
    refused = await upload(files.storage, _target(slot), b"x" * 11)
    assert refused.status_code in (400, 413), refused.text
    assert "EntityTooLarge" in refused.text
    sent = await _send(owner, channel, slot["upload_name"])
    assert sent.status_code == 422
    assert error_of(sent)["details"][0]["reason"] == "not uploaded yet"


async def test_a_file_lying_about_its_type_is_refused_at_send_and_removed(files: Files) -> None:
    owner = await files.api.user()
    _, channel = await files.api.guild_with_channel(owner)
    response = await _slots(
        owner, channel, {"filename": "a.png", "size": 6, "content_type": "image/png"}
    )
    [slot] = response.json()["attachments"]
    stored = await upload(files.storage, _target(slot), b"GIF89a", content_type="image/gif")
    assert stored.status_code in (200, 204), stored.text  # the storage allows image/*
    sent = await _send(owner, channel, slot["upload_name"])
    assert sent.status_code == 422, sent.text
    assert error_of(sent)["details"] == [
        {"field": "attachments[0]", "reason": "uploaded as image/gif, declared image/png"}
    ]
    assert await files.api.ctx.blobs.head(f"uploads/{slot['upload_name']}") is None
    assert (await owner.get(f"/channels/{channel}/messages")).json() == []


async def test_a_good_file_sent_beside_a_bad_one_stays_usable(files: Files) -> None:
    owner = await files.api.user()
    _, channel = await files.api.guild_with_channel(owner)
    good = await _uploaded(files, owner, channel)
    short = await _uploaded(files, owner, channel, data=b"abc", size=5)
    sent = await _send(owner, channel, good["upload_name"], short["upload_name"])
    assert error_of(sent)["details"] == [
        {"field": "attachments[1]", "reason": "uploaded 3 bytes, declared 5"}
    ]
    retry = await _send(owner, channel, good["upload_name"])
    assert retry.status_code == 201, retry.text


async def test_attach_files_is_needed_to_ask_and_to_send(files: Files) -> None:
    api = files.api
    owner, member = await api.user(), await api.user()
    guild_id, channel = await api.guild_with_channel(owner)
    await api.join(owner, member, guild_id)
    slot = await _uploaded(files, member, channel)
    deny = {"type": "role", "deny": int(permissions.Permission.ATTACH_FILES)}
    denied = await owner.put(f"/channels/{channel}/permissions/{guild_id}", json=deny)
    assert denied.status_code in (200, 204), denied.text
    asked = await _slots(member, channel, {"filename": "a.png", "size": 1})
    assert asked.status_code == 403
    assert error_of(asked)["code"] == "missing_permission"
    sent = await _send(member, channel, slot["upload_name"])
    assert sent.status_code == 403, sent.text
    assert (await owner.get(f"/channels/{channel}/messages")).json() == []


async def test_an_upload_is_only_its_uploaders_to_send_or_discard(files: Files) -> None:
    api = files.api
    owner, member = await api.user(), await api.user()
    guild_id, channel = await api.guild_with_channel(owner)
    await api.join(owner, member, guild_id)
    slot = await _uploaded(files, owner, channel)
    name = slot["upload_name"]
    assert (await _send(member, channel, name)).status_code == 422
    assert (await member.delete(f"/channels/{channel}/attachments/{name}")).status_code == 404
    assert (await owner.delete(f"/channels/{channel}/attachments/{name}")).status_code == 204
    assert await api.ctx.blobs.head(f"uploads/{name}") is None
    assert (await owner.delete(f"/channels/{channel}/attachments/{name}")).status_code == 404
    assert (await _send(owner, channel, name)).status_code == 422


async def test_downloads_are_signed_only_for_who_can_read_the_channel(files: Files) -> None:
    api = files.api
    owner, member, stranger = await api.user(), await api.user(), await api.user()
    guild_id, channel = await api.guild_with_channel(owner)
    await api.join(owner, member, guild_id)
    slot = await _uploaded(files, owner, channel)
    [attachment] = (await _send(owner, channel, slot["upload_name"])).json()["attachments"]
    path = attachment["url"].removeprefix("http://api.test")
    assert (await member.get(path)).status_code == 302
    assert (await stranger.get(path)).status_code == 404
    deny = {"type": "role", "deny": int(permissions.Permission.READ_MESSAGE_HISTORY)}
    await owner.put(f"/channels/{channel}/permissions/{guild_id}", json=deny)
    assert (await member.get(path)).status_code == 403
    unknown = path.rsplit("/", 1)[0] + "/1"
    assert (await owner.get(unknown)).status_code == 404


async def test_the_sweeper_deletes_expired_uploads_and_their_objects(files: Files) -> None:
    api = files.api
    owner = await api.user()
    _, channel = await api.guild_with_channel(owner)
    stale = await _uploaded(files, owner, channel)
    fresh = await _uploaded(files, owner, channel)
    async with api.ctx.db.connection("expire") as conn:
        await conn.execute(
            "UPDATE attachment_uploads SET expires_at = now() - interval '1 second' "
            "WHERE upload_name = $1",
            stale["upload_name"],
        )
    assert await attachments.sweep_once(api.ctx) == 1
    assert await api.ctx.blobs.head(f"uploads/{stale['upload_name']}") is None
    assert await api.ctx.blobs.head(f"uploads/{fresh['upload_name']}") is not None
    assert (await _send(owner, channel, stale["upload_name"])).status_code == 422
    assert (await _send(owner, channel, fresh["upload_name"])).status_code == 201


async def test_deleting_a_message_deletes_its_files(files: Files) -> None:
    owner = await files.api.user()
    _, channel = await files.api.guild_with_channel(owner)
    slot = await _uploaded(files, owner, channel)
    message = (await _send(owner, channel, slot["upload_name"])).json()
    [attachment] = message["attachments"]
    key = f"attachments/{channel}/{attachment['id']}"
    assert await files.api.ctx.blobs.head(key) is not None
    deleted = await owner.delete(f"/channels/{channel}/messages/{message['id']}")
    assert deleted.status_code == 204
    assert await files.api.ctx.blobs.head(key) is None


async def test_a_send_the_store_refuses_keeps_its_uploads_and_drops_its_copies(
    files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = files.api
    owner = await api.user()
    _, channel = await api.guild_with_channel(owner)
    slot = await _uploaded(files, owner, channel)
    copies: list[str] = []
    real_copy, real_create = api.ctx.blobs.copy, api.ctx.messages.create

    async def copy(source: str, destination: str) -> None:
        copies.append(destination)
        await real_copy(source, destination)

    async def refuse(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("store down")

    monkeypatch.setattr(api.ctx.blobs, "copy", copy)
    monkeypatch.setattr(api.ctx.messages, "create", refuse)
    failed = await _send(owner, channel, slot["upload_name"])
    assert failed.status_code == 500
    [copied] = copies
    assert await api.ctx.blobs.head(copied) is None
    monkeypatch.setattr(api.ctx.messages, "create", real_create)
    retry = await _send(owner, channel, slot["upload_name"])
    assert retry.status_code == 201, retry.text


async def test_readiness_checks_the_s3_bucket(
    migrated_database: str, nats_server: Any, minio_server: minio.MinioServer, s3_bucket: str
) -> None:
    for bucket, status in ((s3_bucket, 200), ("gochat-no-such-bucket", 503)):
        cfg = api_config(
            migrated_database,
            nats_server.url,
            blob_store="s3",
            s3_endpoint=minio_server.endpoint,
            s3_bucket=bucket,
            s3_access_key_id=minio_server.access_key,
            s3_secret_access_key=minio_server.secret_key,
        )
        app = build_app(cfg)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as c:
                response = await c.get("/readyz")
        assert response.status_code == status, response.text
        if status == 503:
            assert set(error_of(response)["details"]) == {"s3"}
