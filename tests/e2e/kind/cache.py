"""Pinned versions and the cache every kind build step writes into.

Everything lands under ``~/.cache/gochat/kind/`` (``GOCHAT_KIND_CACHE`` moves it). Each step
builds into a staging path and renames it into place, so a step either exists whole or not at
all, and running it again is a no-op.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
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
    # CoreDNS is built with only the plugins a kind cluster's Corefile can name (binaries.coredns):
    # kubeadm's default Corefile, plus log, hosts, rewrite and template, which users add when they
    # test DNS set-ups. The full build compiles the AWS, Azure, Google Cloud, etcd, dnstap and
    # tracing SDKs too, for plugins no kind cluster loads.
    coredns_plugins: tuple[str, ...] = (
        "errors", "health", "ready", "kubernetes", "metrics", "forward", "cache", "loop",
        "reload", "loadbalance", "log", "hosts", "rewrite", "template",
    )  # fmt: skip
    pause: str = "3.10.1"
    local_path_provisioner: str = "v0.0.30"
    # cri-tools v1.35.0 is refused by the Go module proxy.
    crictl: str = "v1.34.0"
    # The developer loop (skaffold.yaml); newer skaffold releases are refused by the Go proxy.
    skaffold: str = "v2.16.1"
    # skaffold's helm deployer hands helm a post-renderer executable, which Helm 4 refuses (its
    # post-renderers are plugins): the developer loop runs Helm 3 (v3.21.4, approved here).
    skaffold_helm: str = "v3.21.4"
    # The ws HPA scenario's metrics path (deploy/metrics/, metrics_images.py): Prometheus 3.16
    # (module v0.316.0; Debian's 2.42 lacks Kubernetes service discovery) and the adapter.
    prometheus: str = "v0.316.0"
    prometheus_adapter: str = "v0.12.0"
    debian: str = "bookworm"
    # Bumped when a recipe changes what an artifact contains.
    recipe: int = 3

    @property
    def node_key(self) -> str:
        return (
            f"kubernetes-{self.kubernetes}_kind-{self.kind}_{self.bin_entries['coredns']}"
            f"_lpp-{self.local_path_provisioner}_{self.debian}_r{self.recipe}"
        )

    @property
    def etcd(self) -> str:
        """etcd's own version for the image tag kubeadm asks for (3.6.6-0 -> v3.6.6)."""
        return "v" + self.etcd_image.split("-")[0]

    @property
    def bin_entries(self) -> dict[str, str]:
        """The directory under ``bin/`` each Go-built tool of these pins is cached in."""
        return {
            "kind": f"kind-{self.kind}",
            "kubernetes": f"kubernetes-{self.kubernetes}",
            "etcd": f"etcd-{self.etcd}",
            "coredns": f"coredns-{self.coredns}-{_short_hash(self.coredns_plugins)}",
            "local-path-provisioner": f"local-path-provisioner-{self.local_path_provisioner}",
            "crictl": f"crictl-{self.crictl}",
            "pause": f"pause-{self.pause}",
            "skaffold": f"skaffold-{self.skaffold}",
            "helm": f"helm-{self.skaffold_helm}",
            "prometheus": f"prometheus-{self.prometheus}",
            "prometheus-adapter": f"prometheus-adapter-{self.prometheus_adapter}",
        }

    @property
    def rootfs_tarball(self) -> str:
        return f"rootfs-{self.debian}.tar.zst"

    @property
    def base_tarball(self) -> str:
        return f"kind-base-{self.debian}-r{self.recipe}.tar.zst"

    @property
    def node_tarball(self) -> str:
        return f"node-{self.node_key}.tar.zst"

    def current_entries(self) -> dict[str, set[str]]:
        """Per cache folder, the entries these pins use; ``prune`` removes the others."""
        return {
            "bin": set(self.bin_entries.values()),
            "base": {self.rootfs_tarball, self.base_tarball},
            "node": {self.node_tarball},
        }

    @property
    def node_image(self) -> str:
        return f"gochat.local/kind-node:{self.kubernetes}-r{self.recipe}"

    @property
    def base_image(self) -> str:
        return f"gochat.local/kind-base:{self.debian}-r{self.recipe}"


PINNED = Versions()


def _short_hash(parts: tuple[str, ...]) -> str:
    return hashlib.sha256(" ".join(parts).encode()).hexdigest()[:8]


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


def prune(versions: Versions, *, root: Path | None = None, log: Log = print) -> list[Path]:
    """Remove what older pins left in the artifact folders (``bin``, ``base``, ``node``) and
    return what went; the current pins' entries, the run and logs folders stay.

    An entry whose build lock another run holds is left alone: it is being built (or read
    under the lock) right now, by a checkout with other pins.
    """
    root = root if root is not None else cache_root()
    removed = []
    for folder, keep in versions.current_entries().items():
        directory = root / folder
        if not directory.is_dir():
            continue
        for entry in sorted(directory.iterdir()):
            name = entry.name
            if name in keep or name.startswith("."):
                continue
            lock_path = directory / f".{name}.lock"
            with open(lock_path, "w") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                _remove(entry)
                _remove(directory / f".staging-{name}")
                lock_path.unlink(missing_ok=True)
            removed.append(entry)
    if removed:
        log(f"kind: pruned {len(removed)} entries of older pins: {[p.name for p in removed]}")
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
