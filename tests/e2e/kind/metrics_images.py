"""The metrics path's images (deploy/metrics/images/), built like the backends' (by the
machine's image builder, ``tests.images.builders``).

    python -m tests.e2e.kind.metrics_images [ensure|paths]

Both are static Go binaries on ``scratch``, built from the Go module proxy (``nice go install``:
big builds on a shared machine) and cached by version under ``~/.cache/gochat/kind/bin/``:

- Prometheus 3.16 (``github.com/prometheus/prometheus`` v0.316.0) with only Kubernetes service
  discovery (build tags ``remove_all_sd,enable_kubernetes_sd``). Debian's ``prometheus`` (2.42)
  is built without ``kubernetes_sd_configs``, and pods come and go: the scrape needs it.
- prometheus-adapter v0.12.0 (``sigs.k8s.io/prometheus-adapter/cmd/adapter``).

Each `docker save`-style tarball is cached by content (the Dockerfile folder, the binary) under
``~/.cache/gochat/images/<key>/``, so a warm call costs a hash.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

from tests.images import build, builders
from tests.k8s import gobuild

from . import binaries, cache

DEPLOY = build.ROOT / "deploy" / "metrics"


@dataclasses.dataclass(frozen=True)
class MetricsImage:
    name: str  # fully qualified repository, as the manifests name it
    tag: str
    folder: str  # under deploy/metrics/images/
    binary: str  # the file the Dockerfile copies
    module: str
    command: str  # the main package, relative to the module
    version: str  # the Go module's version
    # `go install module/command@version`; False: build a copy of the module's source as the
    # main module (the proxy refuses the version list `go install` reads for deprecations).
    install: bool
    tags: str = ""  # Go build tags
    ldflags: str = "-s -w"

    def source(self) -> Path:
        return DEPLOY / "images" / self.folder

    @property
    def reference(self) -> str:
        return f"{self.name}:{self.tag}"

    @property
    def bin_entry(self) -> str:
        return cache.PINNED.bin_entries[self.folder]


PROMETHEUS = MetricsImage(
    name="docker.io/gochat/metrics-prometheus",
    tag="v3.16.0",
    folder="prometheus",
    binary="prometheus",
    module="github.com/prometheus/prometheus",
    command="cmd/prometheus",
    version=cache.PINNED.prometheus,
    install=True,
    tags="remove_all_sd,enable_kubernetes_sd",
    ldflags="-s -w -X github.com/prometheus/common/version.Version=3.16.0",
)
ADAPTER = MetricsImage(
    name="docker.io/gochat/metrics-prometheus-adapter",
    tag=cache.PINNED.prometheus_adapter,
    folder="prometheus-adapter",
    binary="adapter",
    module="sigs.k8s.io/prometheus-adapter",
    command="cmd/adapter",
    version=cache.PINNED.prometheus_adapter,
    install=False,
)
IMAGES = (PROMETHEUS, ADAPTER)


def go_binary(image: MetricsImage) -> Path:
    """The image's binary, built once per version with ``nice go``."""

    def make(staging: Path) -> None:
        work = staging / "work"
        work.mkdir(parents=True)
        started = time.monotonic()
        target = f"{image.module}/{image.command}@{image.version}"
        build.log(f"building {target} (nice go)")
        flags = ["-trimpath", "-ldflags", image.ldflags]
        flags += ["-tags", image.tags] if image.tags else []
        if image.install:
            _go(["install", *flags, target], cwd=work, env={"GOBIN": str(staging)})
        else:
            out = _go(["mod", "download", "-json", f"{image.module}@{image.version}"], cwd=work)
            source = work / "source"
            shutil.copytree(json.loads(out)["Dir"], source)
            for path in [source, *source.rglob("*")]:
                path.chmod(path.stat().st_mode | stat.S_IWUSR)
            output = str(staging / image.binary)
            _go(["build", *flags, "-o", output, f"./{image.command}"], cwd=source)
        build.log(f"{target} built in {time.monotonic() - started:.0f}s")
        shutil.rmtree(work, ignore_errors=True)

    folder = binaries.cached(image.bin_entry, image.folder, build=make, log=build.log)
    return folder / image.binary


def _go(args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        ["nice", "-n", "19", "go", *args],
        cwd=cwd,
        env={**gobuild.go_env(), **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise gobuild.BuildError(f"go {' '.join(args)} failed in {cwd}:\n{tail}")
    return proc.stdout


def _inputs(image: MetricsImage) -> list[tuple[str, Path]]:
    files = [
        (path.relative_to(image.source()).as_posix(), path)
        for path in sorted(image.source().rglob("*"))
        if path.is_file() and path.name not in {".gitignore", image.binary}
    ]
    return [*files, (image.binary, go_binary(image))]


def image_key(image: MetricsImage) -> str:
    parts = [build.HARNESS_VERSION.encode(), image.reference.encode()]
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
    builder = builders.current()
    ref = image.reference
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gochat-metrics-") as context:
        for name, path in _inputs(image):
            shutil.copy2(path, Path(context) / name)
        build.log(f"building {ref} with {builder.name}")
        builder.build(context=Path(context), reference=ref, archive=archive)
    build.log(f"{ref}: {time.monotonic() - started:.0f}s, {archive} ({build.mib(archive)} MiB)")
    _prune(image, keep=archive.parent)
    return archive


def _prune(image: MetricsImage, *, keep: Path) -> None:
    short = image.name.rsplit("/", 1)[-1]
    for tarball in build.IMAGES_DIR.glob(f"*/{short}-*.tar"):
        # Tags hold no "-": metrics-prometheus-adapter-<tag> is not metrics-prometheus's.
        if tarball.name.rsplit("-", 1)[0] == short and tarball.parent != keep:
            shutil.rmtree(tarball.parent, ignore_errors=True)


def ensure_images() -> dict[str, Path]:
    """Reference -> tarball of each metrics image, building what is missing (the binaries first,
    outside the images lock; then under the same lock as ``tests.images.build``: one image
    storage, one builder at a time)."""
    for image in IMAGES:
        go_binary(image)
    build.IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    with (build.IMAGES_DIR / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return {image.reference: _build(image) for image in IMAGES}


if __name__ == "__main__":
    raise SystemExit(
        build.cli(
            ensure_images,
            lambda: [archive_path(image) for image in IMAGES],
            prog="tests.e2e.kind.metrics_images",
        )
    )
