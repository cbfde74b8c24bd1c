"""The BlobStore contract, run against every adapter: the local folder (signed URLs served by
the API) and S3 (a real MinIO: moto ignores POST policy conditions, so it cannot prove a size
limit). The storage itself enforces what an upload target grants."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures import minio
from tests.integration.ports import blob_world
from tests.integration.ports.blob_world import BlobHarness, upload

# A first run builds MinIO (~9 minutes on two cores) inside the first S3 test's set-up.
pytestmark = pytest.mark.timeout(minio.BUILD_TIMEOUT_SECONDS)


@pytest.fixture(params=["localfs", "s3"])
async def blob(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobHarness]:
    if request.param == "localfs":
        async with blob_world.local_harness(tmp_path / "files") as harness:
            yield harness
    else:
        server = request.getfixturevalue("minio_server")
        bucket = request.getfixturevalue("s3_bucket")
        async with blob_world.s3_harness(server, bucket) as harness:
            yield harness


async def _target(blob: BlobHarness, key: str, *, max_bytes: int = 16, prefix: str = "image/"):
    return await blob.store.upload_target(
        key, content_type="image/png", type_prefix=prefix, max_bytes=max_bytes, expires_in=60
    )


def _refused_as(response: httpx.Response, code: str) -> None:
    assert response.status_code in (400, 403, 413), response.text
    assert code in response.text, response.text


async def test_an_upload_of_exactly_the_granted_size_is_stored_with_its_type(
    blob: BlobHarness,
) -> None:
    target = await _target(blob, "uploads/a", max_bytes=16)
    response = await upload(blob.http, target, b"x" * 16)
    assert response.status_code in (200, 201, 204), response.text
    info = await blob.store.head("uploads/a")
    assert info is not None
    assert (info.size, info.content_type) == (16, "image/png")


async def test_one_byte_more_than_granted_is_refused_by_the_storage_and_not_kept(
    blob: BlobHarness,
) -> None:
    target = await _target(blob, "uploads/big", max_bytes=16)
    _refused_as(await upload(blob.http, target, b"x" * 17), "EntityTooLarge")
    assert await blob.store.head("uploads/big") is None


async def test_a_type_outside_the_granted_family_is_refused(blob: BlobHarness) -> None:
    target = await _target(blob, "uploads/html")
    response = await upload(blob.http, target, b"<p>", content_type="text/html")
    assert response.status_code in (400, 403), response.text
    assert await blob.store.head("uploads/html") is None


async def test_another_type_of_the_family_is_stored_as_sent_for_the_send_to_judge(
    blob: BlobHarness,
) -> None:
    target = await _target(blob, "uploads/gif")
    response = await upload(blob.http, target, b"GIF89a", content_type="image/gif")
    assert response.status_code in (200, 201, 204), response.text
    info = await blob.store.head("uploads/gif")
    assert info is not None and info.content_type == "image/gif"


async def test_a_target_for_one_key_cannot_write_another(blob: BlobHarness) -> None:
    target = await _target(blob, "uploads/mine")
    if target.method == "POST":
        response = await upload(blob.http, target, b"x", fields={"key": "uploads/other"})
    else:
        tampered = target.url.replace("uploads%2Fmine", "uploads%2Fother")
        assert tampered != target.url
        response = await blob.http.put(tampered, content=b"x", headers=target.headers)
    assert response.status_code in (400, 403), response.text
    assert await blob.store.head("uploads/other") is None


async def test_a_download_url_serves_the_object_under_its_filename(blob: BlobHarness) -> None:
    await upload(blob.http, await _target(blob, "uploads/d"), b"picture")
    url = await blob.store.download_url("uploads/d", filename="holiday é.png", expires_in=60)
    response = await blob.http.get(url)
    assert response.status_code == 200, response.text
    assert response.content == b"picture"
    assert "holiday%20%C3%A9.png" in response.headers["content-disposition"]


async def test_a_tampered_download_url_is_refused(blob: BlobHarness) -> None:
    await upload(blob.http, await _target(blob, "uploads/d1"), b"one")
    await upload(blob.http, await _target(blob, "uploads/d2"), b"two")
    url = await blob.store.download_url("uploads/d1", filename="a.png", expires_in=60)
    tampered = url.replace("d1", "d2")
    assert tampered != url
    response = await blob.http.get(tampered)
    assert response.status_code == 403, response.text


async def test_copy_then_delete_moves_an_object_and_delete_is_idempotent(
    blob: BlobHarness,
) -> None:
    await upload(blob.http, await _target(blob, "uploads/c"), b"copy me")
    await blob.store.copy("uploads/c", "attachments/1/2")
    await blob.store.delete("uploads/c")
    await blob.store.delete("uploads/c")
    assert await blob.store.head("uploads/c") is None
    info = await blob.store.head("attachments/1/2")
    assert info is not None and (info.size, info.content_type) == (7, "image/png")


async def test_a_lifecycle_rule_is_set_where_the_storage_takes_one(blob: BlobHarness) -> None:
    assert await blob.store.expire_prefix("uploads/", days=2) is blob.lifecycle
    assert await blob.store.expire_prefix("uploads/", days=3) is blob.lifecycle  # replaced
    if blob.rules is not None:
        [rule] = blob.rules()
        assert rule["ID"] == "gochat-abandoned-uploads"
        assert rule["Filter"] == {"Prefix": "uploads/"}
        assert rule["Expiration"] == {"Days": 3}
