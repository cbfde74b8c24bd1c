"""pytest plugin: a Kubernetes cluster for the session and a namespace per test.

``k8s_control_plane`` (session) yields a ``connection.KubernetesCluster``: ``.kubeconfig``,
``.server``, ``.env``, ``.kubectl(*args)``, ``.helm(*args)``, ``.apply(manifest)``,
``.get_json(*args)``, ``.api_client()``, ``.simulated_nodes``. ``k8s_namespace`` (function)
yields the name of a fresh namespace, deleted after the test. With ``GOCHAT_TEST_KUBECONFIG``
set, an existing cluster (kind, ...) is used and nothing is started.

Binaries missing? They are built before the first test runs (in ``pytest_collection_finish``,
so a cold ~11 minute build is not cut short by the per-test timeout); never skipped.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from . import cluster, connection, kwok, tools

EXISTING_KUBECONFIG_ENV = "GOCHAT_TEST_KUBECONFIG"
FIXTURES_NEEDING_CLUSTER = {"k8s_control_plane", "k8s_namespace"}
NAMESPACE_LABEL = "gochat.dev/test-namespace"


def uses_cluster(item: pytest.Item) -> bool:
    names = set(getattr(item, "fixturenames", ()))
    return bool(names & FIXTURES_NEEDING_CLUSTER) or item.get_closest_marker("k8s") is not None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test using the cluster is a k8s test even if its author forgot the marker, so that
    # `-m "not k8s"` really leaves the control plane out.
    for item in items:
        if uses_cluster(item) and item.get_closest_marker("k8s") is None:
            item.add_marker(pytest.mark.k8s)


def pytest_collection_finish(session: pytest.Session) -> None:
    if os.environ.get(EXISTING_KUBECONFIG_ENV) or session.config.option.collectonly:
        return
    if any(uses_cluster(item) for item in session.items):
        ensure_binaries(session.config)


def progress_printer(config: pytest.Config) -> Callable[[str], None]:
    """Progress lines that reach the terminal even while pytest captures output."""
    capture = config.pluginmanager.getplugin("capturemanager")
    reporter = config.pluginmanager.getplugin("terminalreporter")

    def emit(line: str) -> None:
        if reporter is None:
            print(line, flush=True)
            return
        if capture is None:
            reporter.write_line(line)
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)

    return emit


def ensure_binaries(config: pytest.Config) -> Path:
    try:
        return tools.ensure(log=progress_printer(config))
    except tools.ToolsError as error:
        raise pytest.UsageError(f"cannot build the Kubernetes test binaries: {error}") from error


@pytest.fixture(scope="session")
def k8s_control_plane(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[connection.KubernetesCluster]:
    existing = os.environ.get(EXISTING_KUBECONFIG_ENV)
    built = tools.bin_dir()
    if existing:
        cluster_in_use = connection.KubernetesCluster.from_kubeconfig(
            Path(existing).expanduser(), bin_dir=built if built.is_dir() else None
        )
        yield dataclasses.replace(cluster_in_use, simulated_nodes=has_harness_nodes(cluster_in_use))
        return
    plane = cluster.LocalControlPlane(
        run_dir=tmp_path_factory.mktemp("k8s-control-plane"),
        bin_dir=ensure_binaries(request.config),
        log=progress_printer(request.config),
    )
    try:
        yield plane.start()
    finally:
        plane.stop()


def has_harness_nodes(cluster_in_use: connection.KubernetesCluster) -> bool:
    nodes = cluster_in_use.get_json("nodes")["items"]
    return any(
        node["metadata"].get("annotations", {}).get(kwok.HARNESS_NODE_ANNOTATION) == "true"
        for node in nodes
    )


def namespace_name(test_name: str) -> str:
    """``t-<test name>-<random>``: readable in `kubectl get ns`, unique, at most 63 chars."""
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower().removeprefix("test_")).strip("-")
    return f"t-{slug[:48].rstrip('-')}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def k8s_namespace(
    request: pytest.FixtureRequest, k8s_control_plane: connection.KubernetesCluster
) -> Iterator[str]:
    name = namespace_name(request.node.name)
    k8s_control_plane.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {NAMESPACE_LABEL: "true"}},
        }
    )
    wait_for_default_service_account(k8s_control_plane, name)
    try:
        yield name
    finally:
        # Not waiting: the namespace controller finishes the deletion while later tests run.
        k8s_control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


def wait_for_default_service_account(cluster: connection.KubernetesCluster, namespace: str) -> None:
    """Pods created before the namespace's `default` ServiceAccount exists are rejected."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = cluster.kubectl("get", "serviceaccount", "default", "-n", namespace, check=False)
        if found.returncode == 0:
            return
        time.sleep(0.1)
    raise TimeoutError(f"no default ServiceAccount in namespace {namespace} after 30s")
