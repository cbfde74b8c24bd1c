"""Bad input never crashes the operator: the API server rejects invalid resources with the CEL
message, and a missing or malformed Secret turns the cluster Degraded, naming it."""

from __future__ import annotations

import pytest

from tests.k8s import connection
from tests.operator import k8s_support

pytestmark = pytest.mark.k8s


def rejection(gochat: k8s_support.Cluster, body: dict) -> str:
    try:
        gochat.apply(body)
    except connection.ClusterCommandError as error:
        return str(error)
    raise AssertionError("the API server accepted an invalid GoChatCluster")


def test_invalid_resources_are_rejected_with_the_cel_message(gochat: k8s_support.Cluster) -> None:
    both = {"repository": "r", "tag": "1", "digest": "sha256:" + "a" * 64}
    assert "at most one of image.tag or image.digest" in rejection(
        gochat, k8s_support.sample(image=both)
    )
    inverted = {"api": {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}}}
    assert "minReplicas must be less than or equal to maxReplicas" in rejection(
        gochat, k8s_support.sample(components=inverted)
    )
    no_metric = {"ws": {"autoscaling": {"enabled": True, "targetCpuUtilization": 0}}}
    assert "targetCpuUtilization is 0 and no other metric is set" in rejection(
        gochat, k8s_support.sample(components=no_metric)
    )
    long_window = {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 7200}}}
    assert "behavior.scaleDown.stabilizationWindowSeconds" in rejection(
        gochat, k8s_support.sample(components={"api": {"autoscaling": long_window}})
    )
    assert "mail.secret is required" in rejection(
        gochat, k8s_support.sample(mail={"provider": "smtp"})
    )
    too_long = k8s_support.sample()
    too_long["metadata"]["name"] = "c" * 31
    assert "at most 30 characters" in rejection(gochat, too_long)

    cassandra = {"hosts": ["scylla"], "keyspace": "one"}
    gochat.apply(k8s_support.sample(cassandra=cassandra))
    assert "cassandra.keyspace is immutable" in rejection(
        gochat, k8s_support.sample(cassandra={**cassandra, "keyspace": "two"})
    )


def test_an_hpa_on_connections_alone_is_accepted_and_stored_as_written(
    gochat: k8s_support.Cluster,
) -> None:
    """CPU target 0 is what turns it off on a GoChatCluster: a null would be pruned and
    defaulted to 70 by the API server (as `kubectl apply`'s merge patch deletes it)."""
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 15}}
    ws = {"enabled": True, "targetCpuUtilization": 0, "targetConnectionsPerPod": 20,
          "behavior": behavior}  # fmt: skip
    api = {"enabled": True, "targetCpuUtilization": None}
    gochat.apply(
        k8s_support.sample(components={"ws": {"autoscaling": ws}, "api": {"autoscaling": api}})
    )
    stored = (gochat.get("gochatcluster", "chat") or {})["spec"]["components"]
    assert stored["ws"]["autoscaling"] == {**ws, "minReplicas": 2, "maxReplicas": 10}
    assert stored["api"]["autoscaling"]["targetCpuUtilization"] == 70


def test_missing_secret_sets_degraded_with_its_name_until_it_appears(
    gochat: k8s_support.Cluster, operator: k8s_support.OperatorProcess
) -> None:
    gochat.apply(k8s_support.sample())
    k8s_support.wait_until(
        "Degraded naming the Secret",
        lambda: "'chat-postgres'" in gochat.condition("chat", "Degraded").get("message", ""),
    )
    assert gochat.condition("chat", "Degraded")["reason"] == "InvalidReference"
    assert (gochat.get("gochatcluster", "chat") or {})["status"]["phase"] == "Degraded"
    assert any("chat-postgres" in e["message"] for e in gochat.events("InvalidReference"))
    assert gochat.items("job") == []  # nothing migrates against a DSN that is not there

    # Malformed: the key is there but holds no DSN.
    gochat.kubectl("create", "secret", "generic", "chat-postgres", "--from-literal=dsn=oops")
    k8s_support.wait_until(
        "Degraded says the DSN is malformed",
        lambda: "is not a DSN" in gochat.condition("chat", "Degraded").get("message", ""),
    )
    gochat.kubectl("delete", "secret", "chat-postgres")
    gochat.create_dsn_secret()
    gochat.wait_ready("chat")
    assert operator.process is not None and operator.process.poll() is None


def test_malformed_jwt_secret_is_reported_and_never_replaced(
    gochat: k8s_support.Cluster, operator: k8s_support.OperatorProcess
) -> None:
    gochat.create_dsn_secret()
    gochat.kubectl("create", "secret", "generic", "chat-jwt", "--from-literal=k1.pem=not a key")
    gochat.apply(k8s_support.sample())
    k8s_support.wait_until(
        "Degraded names the JWT Secret",
        lambda: "'chat-jwt'" in gochat.condition("chat", "Degraded").get("message", ""),
    )
    secret = gochat.get("secret", "chat-jwt") or {}
    assert list(secret["data"]) == ["k1.pem"]


def test_kubectl_explain_shows_the_field_descriptions(gochat: k8s_support.Cluster) -> None:
    explained = gochat.kubectl("explain", "gochatcluster.spec.components.ws.autoscaling")
    assert "gochat_ws_connections per pod" in explained
    recursive = gochat.kubectl("explain", "gochatcluster.spec", "--recursive")
    for field in ("dsnSecret", "targetConnectionsPerPod", "tlsSecretName", "localDC"):
        assert field in recursive
