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
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from . import binaries, cache, dockerd, engine, host_state, node_image

REPO = Path(__file__).resolve().parents[3]

# cgroup v1 on these machines; kubelet 1.35 refuses it unless told otherwise.
# Deployments that need the API server's Service VIP from their first second.
AFTER_KUBE_PROXY = (
    ("kube-system", "deploy/coredns"),
    ("local-path-storage", "deploy/local-path-provisioner"),
)
KUBELET_PATCH = "kind: KubeletConfiguration\nfailCgroupV1: false\n"
CNI_MANIFEST = Path(__file__).with_name("cni.yaml")
CNI_CONFIG_DIR = "/etc/cni/net.d"
USER_CLUSTER_PREFIX = "gochat-e2e"  # on the user's Docker: gochat-e2e-<pid>


def cluster_config(
    source: Path, *, engine_used: engine.Engine, workers: bool = False, cni_root: Path | None = None
) -> dict[str, Any]:
    """``kind-config.yaml`` made to run here, with cgroup v1 allowed.

    Without ``workers``, the control plane only. On the private dockerd the default CNI is off
    (kindnetd is not built here): one node uses the static bridge conflist of the node image;
    with workers, each node's ``/etc/cni/net.d`` is an empty folder under ``cni_root`` (hiding
    that static conflist, whose one subnet every node would share) which ``CNI_MANIFEST``
    fills with the node's own podCIDR. With the user's Docker, kind's own kindnet does all this,
    and the nodes publish no host ports: there they would be the host's own (8080 and 8443,
    which a developer's cluster made from the same file may hold), and the tier reaches its
    Services by port-forward.
    """
    config: dict[str, Any] = yaml.safe_load(source.read_text())
    if not workers:
        config["nodes"] = [node for node in config["nodes"] if node.get("role") == "control-plane"]
    config.setdefault("kubeadmConfigPatches", []).append(KUBELET_PATCH)
    if engine_used is engine.Engine.USER_DOCKER:
        for node in config["nodes"]:
            node.pop("extraPortMappings", None)
        return config
    config.setdefault("networking", {})["disableDefaultCNI"] = True
    if workers:
        if cni_root is None:
            raise ValueError("cni_root: a folder for the nodes' CNI configs is needed with workers")
        for index, node in enumerate(config["nodes"]):
            mount = {"hostPath": str(cni_root / f"node-{index}"), "containerPath": CNI_CONFIG_DIR}
            node["extraMounts"] = [*node.get("extraMounts", []), mount]
    return config


def cni_manifest(versions: cache.Versions) -> str:
    """``cni.yaml`` with the node image's Debian helper as its image."""
    image = f"{node_image.HELPER_IMAGE}:{versions.debian}"
    return CNI_MANIFEST.read_text().replace("image: HELPER_IMAGE", f"image: {image}")


@dataclasses.dataclass
class Cluster:
    daemon: engine.Docker
    kind: Path
    kubectl_path: Path
    work_dir: Path
    name: str

    @property
    def kubeconfig(self) -> Path:
        return self.work_dir / "kubeconfig"

    def create(self, *, image: str | None, config: dict[str, Any], wait: bool = True) -> None:
        """``image`` None: the kindest/node image kind defaults to. ``wait`` False when the
        nodes only become Ready once a CNI is applied after creation."""
        config_path = self.work_dir / "kind-config.yaml"
        config_path.write_text(yaml.safe_dump({**config, "name": self.name}))
        create = ["create", "cluster", "--config", str(config_path)]
        create += ["--image", image] if image else []
        create += ["--wait", "5m"] if wait else []
        self._kind([*create, "--kubeconfig", str(self.kubeconfig)])

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


# How long a test waits for another harness run (a scenario session, another checkout's
# `make test`, `python -m tests.e2e.kind.hold`) to free the one cluster this machine can run.
LOCK_WAIT = 2400


class Unavailable(RuntimeError):
    """No way to run kind here; the message says what is missing (tests skip with it)."""


@contextlib.contextmanager
def session(
    *,
    versions: cache.Versions = cache.PINNED,
    config_path: Path = REPO / "kind-config.yaml",
    workers: bool = False,
    wait_for_lock: float = 0,
    outcome: Outcome | None = None,
    log: cache.Log = print,
) -> Iterator[Cluster]:
    """A created cluster (nodes registered; ``Cluster.wait_usable`` waits for Ready and DNS),
    deleted on exit. ``workers``: keep the config's worker nodes (with a pod network across
    nodes). ``wait_for_lock``: seconds to wait for another harness run on the private dockerd
    to end (the machine has one). Raises ``Unavailable`` when neither a Docker nor the private
    dockerd path works."""
    outcome = outcome if outcome is not None else Outcome()
    choice = engine.choose(engine.probe_and_provision(log))
    log(f"kind: {choice.reason}")
    if choice.engine is None:
        raise Unavailable(choice.reason)
    cache.prune(versions, log=log)
    if choice.engine is engine.Engine.USER_DOCKER:
        with tempfile.TemporaryDirectory(prefix="gochat-kind-") as work_dir:
            user_docker = engine.UserDocker(work_dir=Path(work_dir))
            yield from _user_docker_session(
                user_docker,
                versions=versions,
                config=cluster_config(config_path, engine_used=choice.engine, workers=workers),
                outcome=outcome,
                log=log,
            )
        return
    daemon = dockerd.Dockerd(state_dir=cache.cache_root() / "run" / "docker")
    config = cluster_config(
        config_path, engine_used=choice.engine, workers=workers, cni_root=daemon.state_dir / "cni"
    )
    with contextlib.ExitStack() as stack:
        _hold_when_free(stack, daemon, wait=wait_for_lock)
        yield from _session(
            daemon, versions=versions, config=config, workers=workers, outcome=outcome, log=log
        )


def _hold_when_free(stack: contextlib.ExitStack, daemon: dockerd.Dockerd, *, wait: float) -> None:
    """Take the one-harness-run lock, waiting up to ``wait`` seconds for another run to end."""
    deadline = time.monotonic() + wait
    while True:
        try:
            stack.enter_context(daemon.exclusive())
            return
        except dockerd.DockerdError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(5)


def _user_docker_session(
    user_docker: engine.UserDocker,
    *,
    versions: cache.Versions,
    config: dict[str, Any],
    outcome: Outcome,
    log: cache.Log,
) -> Iterator[Cluster]:
    """On the user's Docker: kind's default kindest/node image, kindnet, no host snapshot
    (the harness changes nothing on the host itself). Nothing serializes runs on a user's
    Docker, so each session's cluster has a name of its own (``gochat-e2e-<pid>``): a
    developer's ``gochat`` cluster (``kind-config.yaml``) and another session's are never
    touched, and only a cluster this session created is deleted."""
    cluster = Cluster(
        daemon=user_docker,
        kind=binaries.kind(versions, log=log) / "kind",
        kubectl_path=binaries.kubernetes(versions, log=log) / "kubectl",
        work_dir=user_docker.work_dir,
        name=f"{USER_CLUSTER_PREFIX}-{os.getpid()}",
    )
    with _timed(outcome, "kind create cluster"):
        cluster.create(image=None, config=config)
    try:
        yield cluster
    except BaseException:
        logs = logs_dir()
        cluster.export_logs(logs)
        log(f"kind: cluster logs saved in {logs}")
        raise
    finally:
        with _timed(outcome, "delete and clean up"):
            cluster.delete()


def _session(
    daemon: dockerd.Dockerd,
    *,
    versions: cache.Versions,
    config: dict[str, Any],
    workers: bool,
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
            # With workers, no node is Ready before the CNI DaemonSet has run on it.
            cluster.create(image=image, config=config, wait=not workers)
            if workers:
                cluster.kubectl(["apply", "-f", "-"], stdin=cni_manifest(versions))
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
    """Everything a cluster needs, ending with the cached node image tarball; what older pins
    left in the cache goes."""
    cache.prune(versions, log=log)
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
    except (cache.BuildError, dockerd.DockerdError, Unavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
