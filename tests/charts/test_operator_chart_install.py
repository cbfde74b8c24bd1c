"""charts/gochat-operator installed with `helm install --wait` on the harness' API server
(KWOK nodes run the pod), and the CRD left in place by `helm uninstall`."""

from __future__ import annotations

import pytest

from tests.charts.helm_support import CHARTS
from tests.k8s import connection

pytestmark = pytest.mark.k8s
CRD = "customresourcedefinition/gochatclusters.gochat.dev"


def adopt_existing_crd(k8s: connection.KubernetesCluster, *, release: str, namespace: str) -> None:
    """Other tests of the session may have applied the CRD from crds/; mark it as the release's,
    as Helm requires before taking over an object it did not create."""
    if k8s.kubectl("get", CRD, "--ignore-not-found", "-o", "name").stdout.strip():
        k8s.kubectl("label", CRD, "app.kubernetes.io/managed-by=Helm", "--overwrite")
        k8s.kubectl(
            "annotate",
            CRD,
            f"meta.helm.sh/release-name={release}",
            f"meta.helm.sh/release-namespace={namespace}",
            "--overwrite",
        )


def test_install_waits_for_the_operator_and_uninstall_keeps_the_crd(
    k8s_control_plane: connection.KubernetesCluster, k8s_namespace: str
) -> None:
    k8s = k8s_control_plane
    if not k8s.simulated_nodes:
        pytest.skip("needs the harness's KWOK nodes (the operator image is not pulled here)")
    release = "op"
    adopt_existing_crd(k8s, release=release, namespace=k8s_namespace)
    chart = str(CHARTS / "gochat-operator")
    refused = k8s.helm(
        "install", release, chart, "-n", k8s_namespace, "--set", "watch.allNamespace=false",
        check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "allNamespace" in refused.stderr, refused.stderr
    k8s.helm("install", release, chart, "-n", k8s_namespace, "--wait", "--timeout=90s")

    deployment = k8s.get_json(
        "deployment", "-n", k8s_namespace, "-l", "app.kubernetes.io/instance=op"
    )
    (operator,) = deployment["items"]
    assert operator["status"].get("readyReplicas") == 1
    crd = k8s.get_json(CRD)
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert k8s.get_json("clusterrole", "op-gochat-operator")["rules"]

    k8s.helm("uninstall", release, "-n", k8s_namespace, "--wait", "--timeout=60s")
    assert k8s.get_json(CRD)["metadata"]["name"] == "gochatclusters.gochat.dev"
    left = k8s.get_json("deployment", "-n", k8s_namespace, "-l", "app.kubernetes.io/instance=op")
    assert left["items"] == []
    assert not k8s.kubectl("get", "clusterrole", "op-gochat-operator", "--ignore-not-found").stdout
