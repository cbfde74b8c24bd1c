"""Fixtures of the operator tests that need the control plane (from tests/k8s)."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from tests.k8s import connection
from tests.operator import k8s_support


@pytest.fixture(scope="session")
def gochat_crd(k8s_control_plane: connection.KubernetesCluster) -> connection.KubernetesCluster:
    """The cluster with the committed GoChatCluster CRD installed."""
    k8s_support.install_crd(k8s_control_plane)
    return k8s_control_plane


@pytest.fixture
def gochat(gochat_crd: connection.KubernetesCluster, k8s_namespace: str) -> k8s_support.Cluster:
    return k8s_support.Cluster(gochat_crd, k8s_namespace)


@pytest.fixture
def operator(
    gochat_crd: connection.KubernetesCluster, k8s_namespace: str, tmp_path: pathlib.Path
) -> Iterator[k8s_support.OperatorProcess]:
    """The operator, watching this test's namespace only, as a subprocess."""
    process = k8s_support.OperatorProcess(
        cluster=gochat_crd, namespace=k8s_namespace, log_path=tmp_path / "operator.log"
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()
