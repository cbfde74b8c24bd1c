"""The BlobStore contract suite's view of a store: the store and an HTTP client that reaches
its signed URLs as a client would (straight to MinIO; to the API's file route for localfs)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from gochat import ports
from gochat.adapters.localfs import blob_server, blobs
from gochat.adapters.s3 import blobs as s3_blobs
from tests.fixtures import minio

LOCAL_BASE_URL = "http://files.test"


@dataclass
class BlobHarness:
    store: ports.BlobStore
    http: httpx.AsyncClient
    lifecycle: bool  # whether the storage takes a lifecycle rule
    # The bucket's lifecycle rules as the storage reports them (S3 only).
    rules: Callable[[], list[dict[str, Any]]] | None = None


async def upload(
    http: httpx.AsyncClient,
    target: ports.UploadTarget,
    data: bytes,
    *,
    content_type: str | None = None,
    fields: dict[str, str] | None = None,
) -> httpx.Response:
    """Send `data` as a client does; `content_type` and `fields` override what the target
    says (to lie, or to tamper with the signed form)."""
    if target.method == "POST":
        form = {**target.fields, **(fields or {})}
        if content_type is not None:
            form["Content-Type"] = content_type
        return await http.post(target.url, data=form, files={"file": ("blob", data)})
    headers = dict(target.headers)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return await http.put(target.url, content=data, headers=headers)


async def _not_found(scope: object, receive: object, send: object) -> None:
    raise AssertionError("only the file route is served here")


@asynccontextmanager
async def local_harness(root: Path) -> AsyncIterator[BlobHarness]:
    store = blobs.LocalBlobStore(root, base_url=LOCAL_BASE_URL)
    app = blob_server.FileRoutes(_not_found, store=store)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=LOCAL_BASE_URL) as http:
        yield BlobHarness(store, http, lifecycle=False)


@asynccontextmanager
async def s3_harness(server: minio.MinioServer, bucket: str) -> AsyncIterator[BlobHarness]:
    store = s3_blobs.S3BlobStore(
        s3_blobs.Settings(
            bucket=bucket,
            endpoint=server.endpoint,
            region=server.region,
            access_key_id=server.access_key,
            secret_access_key=server.secret_key,
        )
    )
    try:
        async with httpx.AsyncClient() as http:
            yield BlobHarness(
                store,
                http,
                lifecycle=True,
                rules=lambda: server.client().get_bucket_lifecycle_configuration(Bucket=bucket)[
                    "Rules"
                ],
            )
    finally:
        await store.close()
