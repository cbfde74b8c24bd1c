"""Build the GoChat images and export `docker save`-style tarballs.

    python -m tests.images.build [ensure|paths]

The services image (Dockerfile) and the operator's (Dockerfile.operator), each built by the
machine's image builder (``tests.images.builders``: ``docker build`` where Docker answers,
otherwise buildah as root on a local debootstrap base) and cached by a content key (the
Dockerfile, the builder's base and every file the build copies):
~/.cache/gochat/images/<key>/<name>-<version>.tar, so a second run takes seconds.
"""

from __future__ import annotations

import dataclasses
import fcntl
import shutil
import sys
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from tests.images import builders
from tests.images.layout import HARNESS_VERSION, IMAGES_DIR, ROOT, digest, log, mib

__all__ = ["HARNESS_VERSION", "IMAGES_DIR", "ROOT", "digest", "log", "mib"]

# Paths the Dockerfiles COPY (the content key covers exactly these).
CONTEXT = ("pyproject.toml", "uv.lock", "README.md", "apps", "operator", "db", "docker")


@dataclasses.dataclass(frozen=True)
class Image:
    name: str  # fully qualified repository, as `docker save` records it
    dockerfile: str

    def reference(self, version: str) -> str:
        return f"{self.name}:{version}"


SERVICES = Image(name="docker.io/gochat/gochat", dockerfile="Dockerfile")
OPERATOR = Image(name="docker.io/gochat/gochat-operator", dockerfile="Dockerfile.operator")
IMAGES = (SERVICES, OPERATOR)


def project_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


def context_files() -> Iterator[Path]:
    for entry in CONTEXT:
        path = ROOT / entry
        if path.is_file():
            yield path
            continue
        for file in sorted(path.rglob("*")):
            relative = file.relative_to(ROOT).as_posix()
            if (
                file.is_file()
                and "__pycache__" not in file.parts
                and file.suffix != ".pyc"
                and not relative.startswith("operator/deploy")
            ):
                yield file


def image_key(image: Image) -> str:
    builder = builders.current()
    parts = [HARNESS_VERSION.encode(), builder.base_identity(), image.dockerfile.encode()]
    parts += [(ROOT / image.dockerfile).read_bytes(), (ROOT / ".dockerignore").read_bytes()]
    for file in context_files():
        parts += [file.relative_to(ROOT).as_posix().encode(), file.read_bytes()]
    return digest(parts)


def archive_path(image: Image) -> Path:
    """Where the `docker save`-style tarball of the current sources is (or will be)."""
    short = image.name.rsplit("/", 1)[-1]
    return IMAGES_DIR / image_key(image) / f"{short}-{project_version()}.tar"


def build(image: Image) -> Path:
    """Build `image` unless its tarball for the current sources exists; return the tarball."""
    archive = archive_path(image)
    if archive.exists():
        return archive
    builder = builders.current()
    reference = image.reference(project_version())
    started = time.monotonic()
    log(f"building {reference} from {image.dockerfile} with {builder.name}")
    builder.build(
        context=ROOT,
        dockerfile=ROOT / image.dockerfile,
        reference=reference,
        archive=archive,
        on_base=True,
    )
    log(f"{reference}: {time.monotonic() - started:.0f}s, {archive} ({mib(archive)} MiB)")
    prune(image, keep=archive.parent)
    return archive


def prune(image: Image, *, keep: Path, spare: int = 1) -> None:
    """Remove this image's older key folders (tarball and unpacked tree, ~1 GB each), keeping
    `keep` and the `spare` newest others (a concurrent session may still read one)."""
    short = image.name.rsplit("/", 1)[-1]
    folders = [
        tarball.parent
        for tarball in IMAGES_DIR.glob(f"*/{short}-*.tar")
        # gochat-0.1.0.tar, not gochat-operator-0.1.0.tar
        if tarball.name.removeprefix(f"{short}-")[:1].isdigit() and tarball.parent != keep
    ]
    folders.sort(key=lambda folder: folder.stat().st_mtime, reverse=True)
    for folder in folders[spare:]:
        shutil.rmtree(folder, ignore_errors=True)


def ensure_images() -> dict[str, Path]:
    """Every image's tarball for the current sources, building what is missing.

    A file lock makes a second caller (another pytest session, `make images`) wait for the
    first instead of building the same images twice into the same storage."""
    IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    with (IMAGES_DIR / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return {image.name: build(image) for image in IMAGES}


def cli(
    ensure: Callable[[], dict[str, Path]],
    paths: Callable[[], Iterable[Path]],
    *,
    prog: str,
    argv: list[str] | None = None,
) -> int:
    """The ``ensure|paths`` command line of an image builder: ``ensure`` (the default) builds
    what is missing and prints ``<reference> <tarball> <MiB> MiB`` per image; ``paths`` prints
    where each tarball is (or will be). Returns the exit status (2 with the usage otherwise)."""
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "ensure"
    if command == "ensure":
        for reference, archive in ensure().items():
            print(f"{reference} {archive} {mib(archive)} MiB")
        return 0
    if command == "paths":
        for archive in paths():
            print(archive)
        return 0
    print(f"usage: python -m {prog} [ensure|paths]", file=sys.stderr)
    return 2


def _references() -> dict[str, Path]:
    return {f"{name}:{project_version()}": archive for name, archive in ensure_images().items()}


if __name__ == "__main__":
    raise SystemExit(
        cli(
            _references,
            lambda: [archive_path(image) for image in IMAGES],
            prog="tests.images.build",
        )
    )
