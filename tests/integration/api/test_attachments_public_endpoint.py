"""`s3_public_endpoint`: the API signs the URLs it gives clients for the address clients reach,
and keeps its own calls on `s3_endpoint`. Here the public address is a TCP relay to the same
MinIO on a port of its own (as an ingress in front of an in-cluster MinIO would be): a client
uploads and downloads through it, while the API, with the relay shut, still checks, copies and
deletes the objects through the internal address."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gochat.api.app import build_app
from tests.fixtures import minio
from tests.integration.api.conftest import Api, api_config
from tests.integration.api.test_attachments import PNG, _send, _slots, _target
from tests.integration.ports.blob_world import upload

pytestmark = pytest.mark.timeout(minio.BUILD_TIMEOUT_SECONDS)


class Relay:
    """Forwards each TCP connection to `target` unchanged (the Host header included) while
    `open`; while shut, drops it unanswered. `connections` counts every connection offered."""

    def __init__(self, target: str) -> None:
        parts = urllib.parse.urlsplit(target)
        self.target = (parts.hostname or "", parts.port or 80)
        self.open = False
        self.connections = 0
        self.endpoint = ""

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[Relay]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.endpoint = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        async with server:
            yield self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if not self.open:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def relay(minio_server: minio.MinioServer) -> AsyncIterator[Relay]:
    async with Relay(minio_server.endpoint).serving() as running:
        yield running


@pytest.fixture
async def api(
    migrated_database: str,
    nats_server: Any,
    minio_server: minio.MinioServer,
    s3_bucket: str,
    relay: Relay,
    tmp_path: Path,
) -> AsyncIterator[Api]:
    cfg = api_config(
        migrated_database,
        nats_server.url,
        blob_store="s3",
        s3_endpoint=minio_server.endpoint,
        s3_public_endpoint=relay.endpoint,
        s3_bucket=s3_bucket,
        s3_region=minio_server.region,
        s3_access_key_id=minio_server.access_key,
        s3_secret_access_key=minio_server.secret_key,
        max_attachment_bytes=4096,
        attachment_content_types=["image/*"],
    )
    app = build_app(cfg)
    async with app.router.lifespan_context(app):  # the bucket check and lifecycle rule
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            yield Api(app, client, migrated_database, tmp_path / "jwt")


async def test_clients_upload_and_download_through_the_public_endpoint_only(
    api: Api, relay: Relay, minio_server: minio.MinioServer
) -> None:
    owner = await api.user()
    _, channel = await api.guild_with_channel(owner)
    spec = {"filename": "cat.png", "size": len(PNG), "content_type": "image/png"}
    response = await _slots(owner, channel, spec)
    assert response.status_code == 200, response.text
    [slot] = response.json()["attachments"]
    assert slot["upload_url"].startswith(f"{relay.endpoint}/")
    assert relay.connections == 0  # signing makes no call, and the API's start used MinIO

    # A connection per request, so that the relay counts each request that goes through it.
    async with httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0)) as client:
        relay.open = True
        stored = await upload(client, _target(slot), PNG)
        assert stored.status_code in (200, 204), stored.text
        relay.open = False
        through_relay = relay.connections
        assert through_relay == 1

        # The API's own calls (HEAD, copy, delete of the upload) go to the internal endpoint.
        sent = await _send(owner, channel, slot["upload_name"])
        assert sent.status_code == 201, sent.text
        assert relay.connections == through_relay
        [attachment] = sent.json()["attachments"]
        path = f"/channels/{channel}/messages/{sent.json()['id']}/attachments/{attachment['id']}"
        location = (await owner.get(path)).headers["location"]
        assert location.startswith(f"{relay.endpoint}/")

        # Signed for the public host: the same URL sent straight to MinIO is refused.
        internal = location.replace(relay.endpoint, minio_server.endpoint, 1)
        refused = await client.get(internal)
        assert refused.status_code == 403 and "SignatureDoesNotMatch" in refused.text

        relay.open = True
        downloaded = await client.get(location)
        assert downloaded.status_code == 200, downloaded.text
        assert downloaded.content == PNG
        assert relay.connections == through_relay + 1
