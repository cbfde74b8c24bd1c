"""Scenario 1, the operator path: charts/gochat-operator installed, a GoChatCluster pointing at
the in-cluster PostgreSQL and NATS (deploy/backends/) becomes Ready after its migration Job ran,
and a new user's whole flow (tests/e2e/user_flow.py) works through the cluster's Services."""

from __future__ import annotations

import json
import time

import pytest

from gochat.contract import images as image_names
from tests.e2e import user_flow
from tests.e2e.kind import access, backends, platform

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def test_operator_makes_a_ready_cluster_that_serves_a_new_users_whole_flow(
    kube: access.ClusterAccess, gochat_images: dict[str, str]
) -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()
    with (
        backends.namespace(kube, "e2e-operator-system") as system,
        backends.namespace(kube, "e2e-operator") as namespace,
    ):
        platform.install_operator(kube, system, tag=gochat_images[image_names.OPERATOR])
        deployed = backends.deploy(kube, namespace)
        timings["operator and backends ready"] = time.monotonic() - started
        version = gochat_images[image_names.SERVICES]
        kube.kubectl(
            "apply",
            "-f",
            "-",
            stdin=json.dumps(platform.gochat_cluster(version=version, deployed=deployed)),
        )
        try:
            kube.kubectl(
                "-n", namespace, "wait", "gochatcluster/chat", "--for=condition=Ready",
                "--timeout=300s",
            )  # fmt: skip
        except access.ClusterCommandError as error:
            raise AssertionError(_diagnose(kube, namespace, system)) from error
        timings["GoChatCluster Ready"] = time.monotonic() - started
        jobs = kube.get_json("jobs", "-n", namespace)["items"]
        migrations = [
            j
            for j in jobs
            if j["metadata"]["labels"].get("app.kubernetes.io/component") == "migrate"
        ]
        assert [j["status"].get("succeeded") for j in migrations] == [1], jobs
        status = kube.get_json("gochatcluster/chat", "-n", namespace)["status"]
        assert status["phase"] == "Ready", status

        with platform.endpoints(kube, namespace, "chat") as endpoints:
            user_flow.walk(endpoints, platform.mail_reader(kube, namespace), names=("ada", "bo"))
        timings["user flow done"] = time.monotonic() - started

        kube.kubectl("-n", namespace, "delete", "gochatcluster/chat", "--wait=true")
        kube.helm("uninstall", "gochat-operator", "-n", system, "--wait")
    print({step: round(seconds) for step, seconds in timings.items()})


def _diagnose(kube: access.ClusterAccess, namespace: str, system: str) -> str:
    parts = [
        kube.kubectl("-n", namespace, "get", "gochatcluster/chat", "-o", "yaml", check=False),
        kube.kubectl("-n", namespace, "get", "pods,jobs,events", check=False),
        kube.kubectl("-n", system, "logs", "deploy/gochat-operator", "--tail=80", check=False),
    ]
    return "\n".join(parts)
