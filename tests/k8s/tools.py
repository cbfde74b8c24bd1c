"""Build once, and cache by version, the binaries of the local Kubernetes control plane.

    python -m tests.k8s.tools ensure   # build what is missing (cold ~11 min, warm < 1 s)
    python -m tests.k8s.tools paths    # print where each binary is

Binaries land in ``~/.cache/gochat/k8s/<key>/bin/`` (``GOCHAT_K8S_CACHE`` moves the root), where
the key names every pinned version: bumping one gives a new directory, never a stale mix.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from . import gobuild


@dataclasses.dataclass(frozen=True)
class Versions:
    kubernetes: str = "v1.35.4"
    etcd: str = "v3.6.6"
    kwok: str = "v0.8.0"
    helm: str = "v4.3.2"
    # Bumped when the build recipe changes what a binary contains (flags, ldflags).
    recipe: int = 2

    @property
    def cache_key(self) -> str:
        return (
            f"kubernetes-{self.kubernetes}_etcd-{self.etcd}_kwok-{self.kwok}_helm-{self.helm}"
            f"_r{self.recipe}"
        )


PINNED = Versions()
BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
    "helm",
)


class ToolsError(RuntimeError):
    """The binaries could not be built; the message says which step and why."""


def cache_root() -> Path:
    configured = os.environ.get("GOCHAT_K8S_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "gochat" / "k8s"


def bin_dir(versions: Versions = PINNED) -> Path:
    return cache_root() / versions.cache_key / "bin"


def missing_binaries(directory: Path) -> list[str]:
    return [name for name in BINARIES if not os.access(directory / name, os.X_OK)]


def binary_paths(versions: Versions = PINNED) -> dict[str, Path]:
    return {name: bin_dir(versions) / name for name in BINARIES}


@contextlib.contextmanager
def build_lock(root: Path, key: str) -> Iterator[None]:
    """Two pytest sessions starting cold at once must not both spend 11 minutes building."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{key}.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def ensure(*, versions: Versions = PINNED, log: gobuild.Log = print) -> Path:
    """Return the directory holding every binary in BINARIES, building them first if needed."""
    target = bin_dir(versions)
    if not missing_binaries(target):
        return target
    if shutil.which("go") is None:
        raise ToolsError(
            "`go` is not on PATH: the control-plane binaries are built from the Go module "
            "proxy (Go >= 1.25 needed; /usr/local/go/bin on these machines)"
        )
    root = cache_root()
    with build_lock(root, versions.cache_key):
        if not missing_binaries(target):  # another process finished while we waited
            return target
        started = time.monotonic()
        log(f"k8s tools: building {versions} into {target} (cold: ~11 min on 2 cores)")
        # Everything goes into a staging directory renamed into place at the end, so an
        # interrupted build never leaves a key directory that looks complete.
        remove_abandoned_staging(root, versions.cache_key, log=log)
        staging = Path(tempfile.mkdtemp(prefix=f".staging-{versions.cache_key}-", dir=root))
        try:
            build_all(versions, staging=staging, log=log)
            still_missing = missing_binaries(staging / "bin")
            if still_missing:
                raise ToolsError(f"build finished without {', '.join(still_missing)}")
            shutil.rmtree(target.parent, ignore_errors=True)  # a half-made dir from old code
            shutil.rmtree(staging / "work", ignore_errors=True)
            os.rename(staging, target.parent)
        except gobuild.BuildError as error:
            raise ToolsError(f"k8s tools build failed: {error}") from error
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        log(f"k8s tools: ready in {time.monotonic() - started:.0f}s at {target}")
    return target


def remove_abandoned_staging(root: Path, key: str, *, log: gobuild.Log) -> None:
    """A build killed outright (SIGKILL, CI timeout) leaves its staging directory behind; under
    the lock no other build of this key is running, so every one left is abandoned."""
    for leftover in root.glob(f".staging-{key}-*"):
        log(f"k8s tools: removing the remains of an interrupted build: {leftover}")
        shutil.rmtree(leftover, ignore_errors=True)


def build_all(versions: Versions, *, staging: Path, log: gobuild.Log) -> None:
    out_dir = staging / "bin"
    out_dir.mkdir(parents=True)
    work = staging / "work"
    log(f"[1/4] Kubernetes {versions.kubernetes}")
    gobuild.build_kubernetes(
        versions.kubernetes, work_dir=work / "kubernetes", out_dir=out_dir, log=log
    )
    log(f"[2/4] etcd {versions.etcd}")
    gobuild.build_etcd(versions.etcd, work_dir=work / "etcd", out_dir=out_dir, log=log)
    log(f"[3/4] kwok {versions.kwok}")
    gobuild.go_install(
        f"sigs.k8s.io/kwok/cmd/kwok@{versions.kwok}", work_dir=work, out_dir=out_dir, log=log
    )
    log(f"[4/4] helm {versions.helm}")
    gobuild.build_helm(versions.helm, work_dir=work / "helm", out_dir=out_dir, log=log)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.k8s.tools", description=__doc__)
    parser.add_argument("command", choices=["ensure", "paths"])
    args = parser.parse_args(argv)
    if args.command == "ensure":
        try:
            directory = ensure(log=lambda line: print(line, flush=True))
        except ToolsError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"k8s tools: {directory}")
        return 0
    for name, path in binary_paths().items():
        state = "" if os.access(path, os.X_OK) else "  (missing: run `make k8s-tools`)"
        print(f"{name:24} {path}{state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
