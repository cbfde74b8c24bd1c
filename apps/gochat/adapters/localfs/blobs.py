"""`ports.BlobStore` on a local folder, the embedded default: the API serves the signed URLs
itself (`blob_server.py`).

A URL carries its grant in the query (key, expiry, size cap, type prefix for an upload; key,
expiry, filename for a download) and an HMAC-SHA256 of it under a key only the API knows, so
a client can change nothing in it. The signing key is `blob_signing_key`, or a random key kept
in `<root>/.signing-key` (created on first use, shared by every worker using the folder).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
import shutil
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from gochat import ports

# Objects keep their Content-Type in a sidecar file next to them.
_TYPE_SUFFIX = ".content-type"
ROUTE = "/files"


@dataclass(frozen=True, slots=True)
class Grant:
    """What a verified URL allows."""

    action: str  # "put" | "get"
    key: str
    expires: int
    max_bytes: int = 0
    type_prefix: str = ""
    filename: str = ""


class LocalBlobStore:
    def __init__(self, root: str | Path, *, base_url: str, signing_key: str | None = None) -> None:
        self.root = Path(root).resolve()
        self._base_url = base_url.rstrip("/")
        self._signing_key = signing_key.encode() if signing_key else None

    @property
    def _key(self) -> bytes:
        # Read (or made) on first use: a service that never signs leaves no folder behind.
        if self._signing_key is None:
            self.root.mkdir(parents=True, exist_ok=True)
            self._signing_key = _stored_key(self.root).encode()
        return self._signing_key

    # -- signing -------------------------------------------------------------------------------

    def _url(self, grant: Grant) -> str:
        params = {
            "a": grant.action,
            "k": grant.key,
            "e": str(grant.expires),
            "m": str(grant.max_bytes),
            "t": grant.type_prefix,
            "f": grant.filename,
        }
        query = urllib.parse.urlencode(params)
        return f"{self._base_url}{ROUTE}?{query}&s={self._sign(query)}"

    def _sign(self, query: str) -> str:
        return hmac.new(self._key, query.encode(), hashlib.sha256).hexdigest()

    def verify(self, query_string: str, *, now: float | None = None) -> Grant | None:
        """The grant of a URL's query if its signature holds and it has not expired."""
        query, sep, signature = query_string.rpartition("&s=")
        if not sep or not hmac.compare_digest(self._sign(query), signature):
            return None
        params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        try:
            grant = Grant(
                action=params["a"],
                key=params["k"],
                expires=int(params["e"]),
                max_bytes=int(params["m"]),
                type_prefix=params["t"],
                filename=params["f"],
            )
        except (KeyError, ValueError):
            return None
        if grant.expires < (time.time() if now is None else now):
            return None
        return grant

    # -- the port ------------------------------------------------------------------------------

    async def upload_target(
        self, key: str, *, content_type: str, type_prefix: str, max_bytes: int, expires_in: int
    ) -> ports.UploadTarget:
        grant = Grant(
            "put",
            key,
            int(time.time()) + expires_in,
            max_bytes=max_bytes,
            type_prefix=type_prefix,
        )
        return ports.UploadTarget(
            method="PUT", url=self._url(grant), headers={"Content-Type": content_type}
        )

    async def head(self, key: str) -> ports.BlobInfo | None:
        path = self.path_of(key)
        try:
            size = path.stat().st_size
            content_type = _type_path(path).read_text()
        except FileNotFoundError:
            return None
        return ports.BlobInfo(size=size, content_type=content_type)

    async def copy(self, source: str, destination: str) -> None:
        src, dst = self.path_of(source), self.path_of(destination)
        await asyncio.to_thread(_copy, src, dst)

    async def delete(self, key: str) -> None:
        path = self.path_of(key)
        for each in (path, _type_path(path)):
            each.unlink(missing_ok=True)

    async def download_url(self, key: str, *, filename: str, expires_in: int) -> str:
        return self._url(Grant("get", key, int(time.time()) + expires_in, filename=filename))

    async def expire_prefix(self, prefix: str, *, days: int) -> bool:
        return False  # the sweeper's deletions are all there is here

    # -- used by blob_server -------------------------------------------------------------------

    def path_of(self, key: str) -> Path:
        """The file of `key`; a key that would leave the folder is refused."""
        path = (self.root / key).resolve()
        if not key or self.root not in path.parents:
            raise ValueError(f"bad key {key!r}")
        return path

    def write_type(self, key: str, content_type: str) -> None:
        _type_path(self.path_of(key)).write_text(content_type)


def _type_path(path: Path) -> Path:
    return path.with_name(path.name + _TYPE_SUFFIX)


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    shutil.copyfile(_type_path(src), _type_path(dst))


def _stored_key(root: Path) -> str:
    path = root / ".signing-key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    return path.read_text().strip()
