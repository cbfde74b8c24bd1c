"""Where built images live and how their cache keys are made, shared by every image builder
(GoChat's, the kind backends', the metrics path's).

Each image is a `docker save`-style tarball under ``~/.cache/gochat/images/<key>/``, the key a
hash of everything the build reads; ``publish`` puts a finished tarball in place atomically, so a
killed build never leaves one that looks complete.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("GOCHAT_IMAGE_CACHE", Path.home() / ".cache" / "gochat"))
IMAGES_DIR = CACHE / "images"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
HARNESS_VERSION = "2"  # bump to rebuild everything after a change in how images are made


def log(message: str) -> None:
    print(f"[images] {message}", file=sys.stderr, flush=True)


def digest(parts: list[bytes]) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(len(part).to_bytes(8, "big"))
        sha.update(part)
    return sha.hexdigest()[:16]


def mib(path: Path) -> int:
    return round(path.stat().st_size / 2**20)


def publish(archive: Path, write: Callable[[Path], object]) -> None:
    """``write`` the tarball to a partial file beside ``archive``, then rename it into place."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    write(partial)
    partial.rename(archive)


def ca_secret() -> list[str]:
    """The build secret the Dockerfiles read where registries are reached through a re-signing
    proxy (``RUN --mount=type=secret,id=cacert``); none when the machine has no bundle there."""
    return [f"--secret=id=cacert,src={CA_BUNDLE}"] if CA_BUNDLE.exists() else []
