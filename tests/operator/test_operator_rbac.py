"""The ClusterRole in operator/deploy is enough: the operator, running as its ServiceAccount
with only that role, brings a cluster to Ready, prunes, and follows a Secret rotation (a missing
verb fails this test)."""

from __future__ import annotations

import base64
import pathlib

import pytest
import yaml

from gochat_operator.specs import meta
from tests.operator import k8s_support

pytestmark = pytest.mark.k8s
RBAC = k8s_support.ROOT / "operator" / "deploy" / "rbac.yaml"


def service_account_kubeconfig(
    gochat: k8s_support.Cluster, *, role_name: str, path: pathlib.Path
) -> pathlib.Path:
    """Install the deploy RBAC bound to a ServiceAccount of the test namespace; a kubeconfig
    with that account's token."""
    documents = list(yaml.safe_load_all(RBAC.read_text()))
    for document in documents:
        if document["kind"] == "ServiceAccount":
            document["metadata"]["namespace"] = gochat.namespace
        if document["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            document["metadata"]["name"] = role_name
        if document["kind"] == "ClusterRoleBinding":
            document["roleRef"]["name"] = role_name
            document["subjects"][0]["namespace"] = gochat.namespace
    gochat.k8s.apply(yaml.safe_dump_all(documents))
    token = gochat.kubectl("create", "token", "gochat-operator", "--duration=1h").strip()
    admin = yaml.safe_load(gochat.k8s.kubeconfig.read_text())
    cluster = admin["clusters"][0]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [
            {"name": "operator", "context": {"cluster": cluster["name"], "user": "operator"}}
        ],
        "current-context": "operator",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def config_hash(gochat: k8s_support.Cluster) -> str:
    template = (gochat.get("deployment", "chat-api") or {})["spec"]["template"]
    return str(template["metadata"]["annotations"][meta.CONFIG_HASH_ANNOTATION])


def test_operator_reaches_ready_with_only_its_cluster_role(
    gochat: k8s_support.Cluster, tmp_path: pathlib.Path
) -> None:
    role_name = f"gochat-operator-{gochat.namespace}"
    kubeconfig = service_account_kubeconfig(
        gochat, role_name=role_name, path=tmp_path / "sa.kubeconfig"
    )
    operator = k8s_support.OperatorProcess(
        cluster=gochat.k8s, namespace=gochat.namespace, log_path=tmp_path / "operator.log",
        env={"KUBECONFIG": str(kubeconfig)},
    )  # fmt: skip
    operator.start()
    try:
        gochat.create_dsn_secret()
        gochat.apply(k8s_support.sample())
        gochat.wait_ready("chat")
        # Exercise the delete verbs too: a failed-then-retried Job is not needed, pruning is.
        gochat.patch("gochatcluster", "chat", {"spec": {"monitoring": {"dashboards": False}}})
        gochat.wait_ready("chat", generation=2)
        assert gochat.get("configmap", "chat-dashboards") is None
        # Secrets are watched (list, watch): a rotation rolls the pods long before a resync.
        before = config_hash(gochat)
        rotated = base64.b64encode(b"postgresql://u:rotated@pg:5432/gochat").decode()
        gochat.patch("secret", "chat-postgres", {"data": {"dsn": rotated}})
        k8s_support.wait_until(
            "pod template hash changes", lambda: config_hash(gochat) != before, timeout=15
        )
        assert "Forbidden" not in operator.log() and "HTTP 403" not in operator.log(), (
            operator.log()
        )
    finally:
        operator.stop()
        gochat.k8s.kubectl("delete", "clusterrolebinding,clusterrole", role_name, check=False)
