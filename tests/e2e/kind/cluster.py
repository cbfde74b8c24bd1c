"""A kind cluster on the private dockerd, from ``kind-config.yaml``, with the host put back.

    python -m tests.e2e.kind.cluster build   # everything the cluster needs, cached by version
    python -m tests.e2e.kind.cluster smoke   # build, create, wait for Ready, delete, check host

``session()`` is what the tests use: it snapshots the host, starts dockerd, loads (or builds)
the node image, creates the cluster and, on every exit path, deletes it, stops dockerd and
restores the host, then reports any difference left.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from . import binaries, cache, dockerd, host_state, node_image

REPO = Path(__file__).resolve().parents[3]

# cgroup v1 on these machines; kubelet 1.35 refuses it unless told otherwise.
# Deployments that need the API server's Service VIP from their first second.
AFTER_KUBE_PROXY = (
    ("kube-system", "deploy/coredns"),
    ("local-path-storage", "deploy/local-path-provisioner"),
)
KUBELET_PATCH = "kind: KubeletConfiguration\nfailCgroupV1: false\n"


def cluster_config(source: Path) -> dict[str, Any]:
    """``kind-config.yaml`` made to run here: the control plane only (workers need a pod
    network across nodes, which the static bridge CNI in the node image does not give), the
    default CNI off (kindnetd is not built here) and cgroup v1 allowed."""
    config: dict[str, Any] = yaml.safe_load(source.read_text())
    config["nodes"] = [node for node in config["nodes"] if node.get("role") == "control-plane"]
    config.setdefault("networking", {})["disableDefaultCNI"] = True
    config.setdefault("kubeadmConfigPatches", []).append(KUBELET_PATCH)
    return config


@dataclasses.dataclass
class Cluster:
    daemon: dockerd.Dockerd
    kind: Path
    kubectl_path: Path
    work_dir: Path
    name: str

    @property
    def kubeconfig(self) -> Path:
        return self.work_dir / "kubeconfig"

    def create(self, *, image: str, config: dict[str, Any]) -> None:
        config_path = self.work_dir / "kind-config.yaml"
        config_path.write_text(yaml.safe_dump({**config, "name": self.name}))
        create = ["create", "cluster", "--image", image, "--config", str(config_path)]
        self._kind([*create, "--kubeconfig", str(self.kubeconfig), "--wait", "5m"])

    def wait_usable(self, *, timeout: int = 180) -> None:
        """Node Ready, kube-proxy running and CoreDNS available: Services and DNS work.

        CoreDNS and the local-path provisioner start before kube-proxy has programmed the API
        server's Service VIP: CoreDNS backs off (~40 s), the provisioner exits and waits out a
        crash-loop delay. Restarting both once kube-proxy runs is faster."""
        wait = f"--timeout={timeout}s"
        self.kubectl(["wait", "--for=condition=Ready", "node", "--all", wait])
        self.kubectl(["-n", "kube-system", "rollout", "status", "ds/kube-proxy", wait])
        for namespace, deployment in AFTER_KUBE_PROXY:
            self.kubectl(["-n", namespace, "rollout", "restart", deployment])
        for namespace, deployment in AFTER_KUBE_PROXY:
            self.kubectl(["-n", namespace, "rollout", "status", deployment, wait])

    def delete(self) -> None:
        self._kind(["delete", "cluster", "--kubeconfig", str(self.kubeconfig)], check=False)

    def export_logs(self, directory: Path) -> None:
        self._kind(["export", "logs", str(directory)], check=False)

    def kubectl(self, args: list[str], *, check: bool = True, stdin: str | None = None) -> str:
        """kubectl in dockerd's network namespace, where the API server's port is published."""
        command = [str(self.kubectl_path), "--kubeconfig", str(self.kubeconfig), *args]
        proc = subprocess.run(
            self.daemon.netns_command(command),
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        if check and proc.returncode != 0:
            raise cache.BuildError(f"kubectl {' '.join(args[:3])} failed: {proc.stderr.strip()}")
        return proc.stdout

    def _kind(self, args: list[str], *, check: bool = True) -> None:
        proc = subprocess.run(
            [str(self.kind), *args, "--name", self.name],
            env=self.daemon.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if check and proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
            raise cache.BuildError(f"kind {' '.join(args[:2])} failed:\n{tail}")


@dataclasses.dataclass
class Outcome:
    """Filled in by ``session`` as it goes: step timings and the host differences left."""

    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    host_differences: list[str] = dataclasses.field(default_factory=list)
    restored: list[str] = dataclasses.field(default_factory=list)


@contextlib.contextmanager
def session(
    *,
    versions: cache.Versions = cache.PINNED,
    config_path: Path = REPO / "kind-config.yaml",
    outcome: Outcome | None = None,
    log: cache.Log = print,
) -> Iterator[Cluster]:
    outcome = outcome if outcome is not None else Outcome()
    daemon = dockerd.Dockerd(state_dir=cache.cache_root() / "run" / "docker")
    with daemon.exclusive():
        yield from _session(
            daemon, versions=versions, config_path=config_path, outcome=outcome, log=log
        )


def _session(
    daemon: dockerd.Dockerd,
    *,
    versions: cache.Versions,
    config_path: Path,
    outcome: Outcome,
    log: cache.Log,
) -> Iterator[Cluster]:
    before = host_state.take()
    cluster = None
    try:
        with _timed(outcome, "dockerd start"):
            daemon.start()
        with _timed(outcome, "node image ready"):
            image = node_image.ensure_loaded(daemon, versions, log=log)
        cluster = Cluster(
            daemon=daemon,
            kind=binaries.kind(versions, log=log) / "kind",
            kubectl_path=binaries.kubernetes(versions, log=log) / "kubectl",
            work_dir=daemon.state_dir.parent,
            name="gochat",
        )
        with _timed(outcome, "kind create cluster"):
            cluster.create(image=image, config=cluster_config(config_path))
        yield cluster
    except BaseException:
        if cluster is not None:
            logs = logs_dir()
            cluster.export_logs(logs)
            log(f"kind: cluster logs saved in {logs}")
        raise
    finally:
        with _timed(outcome, "delete and clean up"):
            if cluster is not None:
                cluster.delete()
            daemon.purge()
            outcome.restored = host_state.restore(before, cgroup_parent=dockerd.CGROUP_PARENT)
        outcome.host_differences = host_state.differences(before, host_state.take())


def logs_dir() -> Path:
    """Where ``kind export logs`` goes when a session fails (``GOCHAT_E2E_LOGS`` for CI)."""
    root = Path(os.environ.get("GOCHAT_E2E_LOGS", cache.cache_root() / "logs"))
    return root / time.strftime("kind-%Y%m%dT%H%M%S")


@contextlib.contextmanager
def _timed(outcome: Outcome, step: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        outcome.timings[step] = round(time.monotonic() - started, 1)


def build(*, versions: cache.Versions = cache.PINNED, log: cache.Log = print) -> None:
    """Everything a cluster needs, ending with the cached node image tarball."""
    binaries.kind(versions, log=log)
    daemon = dockerd.Dockerd(state_dir=cache.cache_root() / "run" / "docker")
    with daemon.exclusive():
        before = host_state.take()
        try:
            daemon.start()
            node_image.ensure_loaded(daemon, versions, log=log)
        finally:
            daemon.purge()
            host_state.restore(before, cgroup_parent=dockerd.CGROUP_PARENT)


def smoke(*, log: cache.Log = print) -> int:
    outcome = Outcome()
    with session(outcome=outcome, log=log) as cluster:
        started = time.monotonic()
        cluster.wait_usable()
        outcome.timings["usable after create"] = round(time.monotonic() - started, 1)
        log(cluster.kubectl(["get", "nodes", "-o", "wide"]))
        log(cluster.kubectl(["get", "pods", "-A", "-o", "wide"]))
    for step, seconds in outcome.timings.items():
        log(f"{step:28} {seconds:7.1f}s")
    log(f"restored: {outcome.restored}")
    if outcome.host_differences:
        log("host differences left:\n  " + "\n  ".join(outcome.host_differences))
        return 1
    log("host state: as before")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.kind.cluster", description=__doc__)
    parser.add_argument("command", choices=["build", "smoke"])
    args = parser.parse_args(argv)
    log = lambda line: print(line, flush=True)  # noqa: E731
    try:
        if args.command == "build":
            build(log=log)
            return 0
        return smoke(log=log)
    except (cache.BuildError, dockerd.DockerdError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
