"""Pinned versions and the cache every kind build step writes into.

Everything lands under ``~/.cache/gochat/kind/`` (``GOCHAT_KIND_CACHE`` moves it). Each step
builds into a staging path and renames it into place, so a step either exists whole or not at
all, and running it again is a no-op.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

Log = Callable[[str], None]
# Writes one artifact (file or directory) at the staging path it is given.
BuildStep = Callable[[Path], None]


@dataclasses.dataclass(frozen=True)
class Versions:
    kind: str = "v0.33.0"
    # The local control plane (tests/k8s/tools.py) pins the same Kubernetes.
    kubernetes: str = "v1.35.4"
    etcd_image: str = "3.6.6-0"
    coredns: str = "v1.13.1"
    pause: str = "3.10.1"
    local_path_provisioner: str = "v0.0.30"
    # cri-tools v1.35.0 is refused by the Go module proxy.
    crictl: str = "v1.34.0"
    debian: str = "bookworm"
    # Bumped when a recipe changes what an artifact contains.
    recipe: int = 3

    @property
    def node_key(self) -> str:
        return (
            f"kubernetes-{self.kubernetes}_kind-{self.kind}_coredns-{self.coredns}"
            f"_lpp-{self.local_path_provisioner}_{self.debian}_r{self.recipe}"
        )

    @property
    def node_image(self) -> str:
        return f"gochat.local/kind-node:{self.kubernetes}-r{self.recipe}"

    @property
    def base_image(self) -> str:
        return f"gochat.local/kind-base:{self.debian}-r{self.recipe}"


PINNED = Versions()


class BuildError(RuntimeError):
    """A build step failed; the message names the step and why."""


def cache_root() -> Path:
    configured = os.environ.get("GOCHAT_KIND_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "gochat" / "kind"


def cached(target: Path, *, step: str, build: BuildStep, log: Log) -> Path:
    """Return ``target``, building it first through ``build(staging_path)`` if it is missing.

    ``build`` writes a file or directory at the staging path it is given; it is renamed to
    ``target`` only when ``build`` returns, so an interrupted step leaves nothing that looks done.
    """
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Two runs starting cold at once: the second waits for the first's result.
    with open(target.with_name(f".{target.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target
        staging = target.with_name(f".staging-{target.name}")
        _remove(staging)  # the remains of an interrupted build: under the lock, nobody's
        started = time.monotonic()
        log(f"kind: {step} ...")
        try:
            build(staging)
            os.rename(staging, target)
        finally:
            _remove(staging)
        log(f"kind: {step}: done in {time.monotonic() - started:.0f}s")
    return target


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
