"""The metrics path's images (deploy/metrics/images/), built with buildah like the backends'.

    python -m tests.e2e.kind.metrics_images [ensure|paths]

Prometheus 2.42 comes from Debian's ``prometheus`` package on the same debootstrap base as the
GoChat images (``tests.images.build.ensure_base``); prometheus-adapter is its static binary,
built from the Go module proxy (``go install sigs.k8s.io/prometheus-adapter/cmd/adapter@v0.12.0``,
~8 min cold on 2 cores, nice'd) and cached by version under ``~/.cache/gochat/kind/bin/``, on
``scratch``. Each `docker save`-style tarball is cached by content (the Dockerfile folder, the
base's key, the adapter binary) under ``~/.cache/gochat/images/<key>/``, so a warm call costs a
hash.
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
from tests.k8s import gobuild

from . import binaries, cache

DEPLOY = build.ROOT / "deploy" / "metrics"
ADAPTER_VERSION = cache.PINNED.prometheus_adapter
ADAPTER_PACKAGE = "sigs.k8s.io/prometheus-adapter/cmd/adapter"
PROMETHEUS_TAG = "2.42"  # Debian bookworm's prometheus (2.42.0+ds)


@dataclasses.dataclass(frozen=True)
class MetricsImage:
    name: str  # fully qualified repository, as the manifests name it
    tag: str
    folder: str  # under deploy/metrics/images/
    on_base: bool  # FROM ${BASE} (the local Debian base) rather than scratch

    def source(self) -> Path:
        return DEPLOY / "images" / self.folder

    @property
    def reference(self) -> str:
        return f"{self.name}:{self.tag}"


PROMETHEUS = MetricsImage(
    name="docker.io/gochat/metrics-prometheus",
    tag=PROMETHEUS_TAG,
    folder="prometheus",
    on_base=True,
)
ADAPTER = MetricsImage(
    name="docker.io/gochat/metrics-prometheus-adapter",
    tag=ADAPTER_VERSION,
    folder="prometheus-adapter",
    on_base=False,
)
IMAGES = (PROMETHEUS, ADAPTER)


def adapter_binary() -> Path:
    """The adapter built once per version: ``nice go install`` (a big build on a shared
    machine), the same flags and so the same Go build cache as ``gobuild.go_install``."""

    def make(staging: Path) -> None:
        work = staging / "work"
        work.mkdir(parents=True)
        started = time.monotonic()
        build.log(f"building prometheus-adapter {ADAPTER_VERSION} (nice go install)")
        proc = subprocess.run(
            [
                "nice", "-n", "19", "go", "install", "-trimpath", "-ldflags", "-s -w",
                f"{ADAPTER_PACKAGE}@{ADAPTER_VERSION}",
            ],
            cwd=work,
            env={**gobuild.go_env(), "GOBIN": str(staging)},
            capture_output=True,
            text=True,
            check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
            raise gobuild.BuildError(f"go install {ADAPTER_PACKAGE}@{ADAPTER_VERSION}:\n{tail}")
        build.log(f"prometheus-adapter built in {time.monotonic() - started:.0f}s")
        shutil.rmtree(work, ignore_errors=True)

    name = cache.PINNED.bin_entries["prometheus-adapter"]
    return binaries.cached(name, "prometheus-adapter", build=make, log=build.log) / "adapter"


def _inputs(image: MetricsImage) -> list[tuple[str, Path]]:
    files = [
        (path.relative_to(image.source()).as_posix(), path)
        for path in sorted(image.source().rglob("*"))
        if path.is_file() and path.name not in {".gitignore", "adapter"}
    ]
    if image is ADAPTER:
        files.append(("adapter", adapter_binary()))
    return files


def image_key(image: MetricsImage) -> str:
    parts = [build.HARNESS_VERSION.encode(), image.reference.encode()]
    if image.on_base:
        parts.append(build.base_key().encode())
    for name, path in _inputs(image):
        parts += [name.encode(), path.read_bytes()]
    return build.digest(parts)


def archive_path(image: MetricsImage) -> Path:
    short = image.name.rsplit("/", 1)[-1]
    return build.IMAGES_DIR / image_key(image) / f"{short}-{image.tag}.tar"


def _build(image: MetricsImage) -> Path:
    archive = archive_path(image)
    if archive.exists():
        return archive
    build.ensure_tools()
    ref = image.reference
    started = time.monotonic()
    base = [f"--build-arg=BASE={build.ensure_base()}"] if image.on_base else []
    with tempfile.TemporaryDirectory(prefix="gochat-metrics-") as context:
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


def _prune(image: MetricsImage, *, keep: Path) -> None:
    short = image.name.rsplit("/", 1)[-1]
    for tarball in build.IMAGES_DIR.glob(f"*/{short}-*.tar"):
        if tarball.parent != keep:
            shutil.rmtree(tarball.parent, ignore_errors=True)


def ensure_images() -> dict[str, Path]:
    """Reference -> tarball of each metrics image, building what is missing (the adapter's
    binary first, outside the images lock; then under the same lock as ``tests.images.build``:
    one buildah storage, one builder at a time)."""
    adapter_binary()
    build.IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    with (build.IMAGES_DIR / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return {image.reference: _build(image) for image in IMAGES}


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
    print("usage: python -m tests.e2e.kind.metrics_images [ensure|paths]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
