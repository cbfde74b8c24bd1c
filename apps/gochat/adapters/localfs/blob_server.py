"""Serves `LocalBlobStore`'s signed URLs: PUT stores an upload, GET returns a file.

Mounted in front of the API's middleware (`FileRoutes`): uploads are larger than the API's
request body limit and stream to disk instead of being read into memory. The size cap is the
grant's: a declared Content-Length over it is refused before a byte is read, and a body that
grows past it is cut off and nothing is kept (413 EntityTooLarge, as S3 answers).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import urllib.parse
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from gochat.adapters.localfs import blobs

_CHUNK = 256 * 1024


class FileRoutes:
    """ASGI middleware: requests to `blobs.ROUTE` go to the blob server, the rest to `app`."""

    def __init__(self, app: ASGIApp, *, store: blobs.LocalBlobStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == blobs.ROUTE:
            await serve(self.store, scope, receive, send)
        else:
            await self.app(scope, receive, send)


async def serve(store: blobs.LocalBlobStore, scope: Scope, receive: Receive, send: Send) -> None:
    grant = store.verify(scope.get("query_string", b"").decode("latin-1"))
    method = scope["method"]
    if grant is None:
        await _error(send, 403, "SignatureDoesNotMatch", "bad or expired signature")
    elif method == "PUT" and grant.action == "put":
        await _put(store, grant, scope, receive, send)
    elif method in ("GET", "HEAD") and grant.action == "get":
        await _get(store, grant, send, head=method == "HEAD")
    else:
        await _error(send, 405, "MethodNotAllowed", f"{method} is not what this URL grants")


async def _put(
    store: blobs.LocalBlobStore, grant: blobs.Grant, scope: Scope, receive: Receive, send: Send
) -> None:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    content_type = headers.get("content-type", "")
    if not content_type.startswith(grant.type_prefix):
        await _error(
            send, 403, "AccessDenied", f"Content-Type must start with {grant.type_prefix!r}"
        )
        return
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > grant.max_bytes:
        await _error(send, 413, "EntityTooLarge", f"at most {grant.max_bytes} bytes")
        return
    path = store.path_of(grant.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    received = 0
    try:
        with partial.open("wb") as f:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away: nothing is kept
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > grant.max_bytes:
                    await _error(send, 413, "EntityTooLarge", f"at most {grant.max_bytes} bytes")
                    return
                f.write(chunk)
                if not message.get("more_body", False):
                    break
        store.write_type(grant.key, content_type)
        os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    await _respond(send, 200, b"", [(b"content-length", b"0")])


async def _get(store: blobs.LocalBlobStore, grant: blobs.Grant, send: Send, *, head: bool) -> None:
    info = await store.head(grant.key)
    if info is None:
        await _error(send, 404, "NoSuchKey", "no such object")
        return
    disposition = "attachment; filename*=UTF-8''" + urllib.parse.quote(grant.filename)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", info.content_type.encode("latin-1", "replace")),
                (b"content-length", str(info.size).encode()),
                (b"content-disposition", disposition.encode()),
                (b"x-content-type-options", b"nosniff"),
            ],
        }
    )
    if head:
        await send({"type": "http.response.body", "body": b""})
        return
    with store.path_of(grant.key).open("rb") as f:
        while chunk := f.read(_CHUNK):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def _error(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message, "details": {}}}).encode()
    await _respond(
        send,
        status,
        body,
        [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    )


async def _respond(send: Send, status: int, body: bytes, headers: list[Any]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
