"""Killing the operator mid-reconcile: the restarted one converges, with no duplicate Jobs."""

from __future__ import annotations

import pytest

from tests.operator import k8s_support

pytestmark = pytest.mark.k8s


def test_operator_killed_mid_reconcile_converges_without_duplicate_jobs(
    gochat: k8s_support.Cluster, operator: k8s_support.OperatorProcess
) -> None:
    gochat.create_dsn_secret()
    gochat.apply(k8s_support.sample())
    # Killed as soon as the migration Job exists: before its Deployments are applied.
    k8s_support.wait_until("migration Job created", lambda: gochat.items("job"), timeout=30)
    operator.kill()
    assert gochat.items("deployment") == []

    operator.start()
    gochat.wait_ready("chat")
    # An upgrade interrupted the same way.
    gochat.patch("gochatcluster", "chat", {"spec": {"version": "0.2.0", "image": {"tag": "0.2.0"}}})
    k8s_support.wait_until("second Job created", lambda: len(gochat.items("job")) == 2, timeout=30)
    operator.kill()
    operator.start()
    body = gochat.wait_ready("chat", generation=2)

    assert body["status"]["version"] == "0.2.0"
    jobs = gochat.items("job")
    assert sorted(j["metadata"]["annotations"]["gochat.dev/version"] for j in jobs) == [
        "0.1.0",
        "0.2.0",
    ]
    pods = gochat.items("pod", "app.kubernetes.io/component=migrate")
    assert len(pods) == 2, "a migration ran twice"
