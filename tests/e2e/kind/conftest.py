"""One cluster for every e2e scenario of the session (``kube``), and GoChat's images in it.

- ``GOCHAT_E2E_KUBECONFIG=<path>``: the scenarios run against that cluster (kind or any other).
  Its nodes must be able to run GoChat's images: with ``GOCHAT_E2E_KIND_CLUSTER=<name>`` the
  tarballs are loaded with ``kind load image-archive --name <name>`` (the ``kind`` on PATH);
  without it they are expected there already (loaded by you, or pullable).
  ``GOCHAT_E2E_NETNS=/run/netns/<name>`` as well: that cluster's API server is reachable only
  inside that network namespace (``python -m tests.e2e.kind.hold`` keeps the harness's cluster
  up with every image loaded and prints both variables).
- otherwise, when the tier is asked for (``GOCHAT_E2E_KIND=1``: `make test`, `make e2e-kind`):
  the harness's own kind cluster
  (``cluster.session()``: the user's Docker, or as root the private dockerd with the locally
  built node image; skipped with the harness's reason when neither works), made usable once,
  deleted at the end with the host put back; a difference left on the host fails the
  session's teardown.

Cluster scenarios run after every other test of the session, which gives ``prebuild.py`` (started
in the background when the session will make clusters) the rest of the session to build the
tier's artifacts. Tests that make their own cluster (marker ``kind_cluster``) run before the ones
using ``kube``: only one kind cluster can exist at a time.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.kind import access, binaries, cache, cluster, dockerd, engine, prebuild, tier
from tests.images import build as images
from tests.images import docker_build
from tests.k8s import tools

KUBECONFIG_ENV = "GOCHAT_E2E_KUBECONFIG"
KIND_NAME_ENV = "GOCHAT_E2E_KIND_CLUSTER"
# The cluster's API server listens in this network namespace (``python -m tests.e2e.kind.hold``).
NETNS_ENV = "GOCHAT_E2E_NETNS"


def _cluster_order(item: pytest.Item) -> int:
    """0: needs no cluster; 1: makes its own (``kind_cluster`` marker); 2: shares ``kube``."""
    if "kube" in getattr(item, "fixturenames", ()):
        return 2
    return 1 if item.get_closest_marker("kind_cluster") else 0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every cluster scenario after the rest of the session (the background prebuild has the
    whole of it to fill the cache), and those sharing ``kube`` last: an own-cluster test
    cannot wait for the shared one."""
    items.sort(key=_cluster_order)


_prebuild: dict[str, Any] = {}


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the kind tier's builds in the background (``prebuild.py``) when this session will
    make clusters on the private dockerd."""
    if not tier.requested() or os.environ.get(KUBECONFIG_ENV):
        return
    if not any(_cluster_order(item) for item in session.items):
        return
    if engine.choose(engine.probe_and_provision(_log)).engine is not engine.Engine.PRIVATE_DOCKERD:
        return
    log_path = cache.cache_root() / "logs" / time.strftime("prebuild-%Y%m%dT%H%M%S.log")
    _prebuild.update(process=prebuild.start(log_path), log=log_path, started=time.monotonic())


def pytest_terminal_summary(terminalreporter: Any) -> None:
    process = _prebuild.get("process")
    if process is None:
        return
    running = process.poll() is None
    prebuild.stop(process)
    # Its own last line says how long it took; the process is only looked at now.
    done = [line for line in _prebuild["log"].read_text().splitlines() if "prebuild: done" in line]
    if running:
        state = f"stopped unfinished after {time.monotonic() - _prebuild['started']:.0f}s"
    else:
        state = f"exit {process.returncode}, {done[-1] if done else 'no summary line'}"
    terminalreporter.write_line(f"kind prebuild: {state} (log: {_prebuild['log']})")


def _log(line: str) -> None:
    print(line, flush=True)


@pytest.fixture(scope="session")
def kube() -> Iterator[access.ClusterAccess]:
    configured = os.environ.get(KUBECONFIG_ENV)
    if not configured and not tier.requested():
        pytest.skip(f"the kind tier runs under `make test` and `make e2e-kind` ({tier.ENV}=1)")
    helm = tools.ensure(log=_log) / "helm"
    if configured:
        yield _external(Path(configured).expanduser(), helm=helm)
        return
    outcome = cluster.Outcome()
    with contextlib.ExitStack() as stack:
        try:
            kind_cluster = stack.enter_context(
                cluster.session(outcome=outcome, log=_log, wait_for_lock=cluster.LOCK_WAIT)
            )
        except cluster.Unavailable as error:
            pytest.skip(str(error))
        started = time.monotonic()
        kind_cluster.wait_usable()
        outcome.timings["usable after create"] = round(time.monotonic() - started, 1)
        daemon = kind_cluster.daemon

        def load(archive: Path) -> None:
            _kind_load([str(kind_cluster.kind)], archive, name=kind_cluster.name, env=daemon.env)

        yield access.ClusterAccess(
            kubeconfig=kind_cluster.kubeconfig,
            kubectl_path=kind_cluster.kubectl_path,
            helm_path=helm,
            wrap=daemon.netns_command,
            # The private dockerd publishes the API server in its own network namespace; the
            # user's Docker publishes on the host.
            netns_path=(
                Path(f"/run/netns/{daemon.netns}") if isinstance(daemon, dockerd.Dockerd) else None
            ),
            load_archive=load,
            docker_builder=docker_build.DockerBuild(
                env=daemon.env,
                cli=dockerd.docker_cli() if isinstance(daemon, dockerd.Dockerd) else "docker",
            ),
        )
    _log(f"kind session timings: {outcome.timings}")
    assert outcome.host_differences == [], outcome.host_differences


def _external(kubeconfig: Path, *, helm: Path) -> access.ClusterAccess:
    kubectl = shutil.which("kubectl") or str(
        binaries.kubernetes(cache.PINNED, log=_log) / "kubectl"
    )
    name = os.environ.get(KIND_NAME_ENV)
    kind = shutil.which("kind")

    def load(archive: Path) -> None:
        assert kind and name
        _kind_load([kind], archive, name=name, env=dict(os.environ))

    netns = os.environ.get(NETNS_ENV)
    if netns:
        return access.ClusterAccess(
            kubeconfig=kubeconfig,
            kubectl_path=binaries.kubernetes(cache.PINNED, log=_log) / "kubectl",
            helm_path=helm,
            wrap=lambda command: ["nsenter", f"--net={netns}", *command],
            netns_path=Path(netns),
        )
    # A kind cluster on this machine's Docker: `docker build` there is the user's own.
    on_docker = bool(name and kind) and docker_build.answers()
    return access.ClusterAccess(
        kubeconfig=kubeconfig,
        kubectl_path=Path(kubectl),
        helm_path=helm,
        load_archive=load if name and kind else None,
        docker_builder=docker_build.DockerBuild() if on_docker else None,
    )


def _kind_load(kind: list[str], archive: Path, *, name: str, env: dict[str, str]) -> None:
    started = time.monotonic()
    proc = subprocess.run(
        [*kind, "load", "image-archive", str(archive), "--name", name],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise access.ClusterCommandError(f"kind load {archive.name} failed:\n{proc.stderr}")
    _log(f"kind load {archive.name}: {time.monotonic() - started:.0f}s")


@pytest.fixture(scope="session")
def gochat_images(kube: access.ClusterAccess) -> dict[str, str]:
    """GoChat's services and operator images (built if missing) in the cluster: name -> tag."""
    archives = images.ensure_images()
    kube.load(*archives.values())
    return {name: images.project_version() for name in archives}
