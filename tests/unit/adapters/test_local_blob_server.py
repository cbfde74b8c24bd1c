"""The local store's upload route against bodies that do not declare their length: the cap
holds while streaming, and nothing of a refused upload is kept."""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

from gochat.adapters.localfs import blob_server, blobs


async def _put(store: blobs.LocalBlobStore, url: str, chunks: list[bytes]) -> list[Any]:
    query = urllib.parse.urlsplit(url).query.encode()
    messages = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    sent: list[Any] = []

    async def receive() -> Any:
        return messages.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "PUT",
        "path": blobs.ROUTE,
        "query_string": query,
        "headers": [(b"content-type", b"image/png")],  # no content-length: chunked
    }
    await blob_server.serve(store, scope, receive, send)
    return sent


async def test_a_chunked_body_growing_past_the_cap_is_cut_off_and_not_kept(
    tmp_path: Path,
) -> None:
    store = blobs.LocalBlobStore(tmp_path, base_url="http://api.test", signing_key="k")
    target = await store.upload_target(
        "uploads/c", content_type="image/png", type_prefix="image/", max_bytes=10, expires_in=60
    )
    sent = await _put(store, target.url, [b"x" * 6, b"x" * 5])
    assert sent[0]["status"] == 413
    assert b"EntityTooLarge" in sent[1]["body"]
    assert await store.head("uploads/c") is None
    assert not _partial_files(tmp_path)


def _partial_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".part")]


async def test_a_chunked_body_within_the_cap_is_stored(tmp_path: Path) -> None:
    store = blobs.LocalBlobStore(tmp_path, base_url="http://api.test", signing_key="k")
    target = await store.upload_target(
        "uploads/c", content_type="image/png", type_prefix="image/", max_bytes=10, expires_in=60
    )
    sent = await _put(store, target.url, [b"x" * 6, b"x" * 4])
    assert sent[0]["status"] == 200
    info = await store.head("uploads/c")
    assert info is not None and info.size == 10
