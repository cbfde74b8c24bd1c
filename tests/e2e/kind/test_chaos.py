"""Scenario 3, chaos: while a sender posts (tests/e2e/kind/chaos_client.py, a Job in the
cluster reaching the Services by name), a gateway pod, an API pod and the NATS pod are deleted
in turn. Every message the API acknowledged is in the history exactly once, reaches each
connected gateway client exactly once (the clients resume on a new connection), and the outbox
drains to zero."""

from __future__ import annotations

import time

import pytest

from gochat.contract import images as image_names
from tests.e2e.kind import access, backends, platform, traffic

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

CHART = backends.backend_images.DEPLOY.parents[1] / "charts" / "gochat"
RELEASE = "gochat"
COUNT = 240
REPLICAS = {"api": 2, "auth": 1, "ws": 2, "indexer": 1}


def _install(kube: access.ClusterAccess, deployed: backends.Backends, tag: str) -> None:
    sets = [
        f"image.tag={tag}",
        f"postgres.dsnSecret.name={deployed.dsn_secret}",
        f"nats.url={deployed.nats_url}",
        *(f"components.{name}.replicas={n}" for name, n in REPLICAS.items()),
    ]
    values = [arg for value in sets for arg in ("--set", value)]
    kube.helm(
        "install", RELEASE, str(CHART), "-n", deployed.namespace, *values,
        "--wait", "--timeout", "300s",
    )  # fmt: skip


def _delete_one(kube: access.ClusterAccess, namespace: str, selector: str, workload: str) -> str:
    pods = kube.get_json("pods", "-n", namespace, "-l", selector)["items"]
    victim = sorted(p["metadata"]["name"] for p in pods)[0]
    kube.kubectl("-n", namespace, "delete", "pod", victim, "--wait=false")
    kube.kubectl("-n", namespace, "rollout", "status", workload, "--timeout=180s")
    return victim


def test_acked_messages_survive_gateway_api_and_nats_pod_deletions_exactly_once(
    kube: access.ClusterAccess, gochat_images: dict[str, str]
) -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()
    with backends.namespace(kube, "e2e-chaos") as namespace:
        deployed = backends.deploy(kube, namespace)
        _install(kube, deployed, gochat_images[image_names.SERVICES])
        with platform.endpoints(kube, namespace, RELEASE) as endpoints:
            channel, users = traffic.channel_with_members(
                endpoints, platform.mail_reader(kube, namespace)
            )
        timings["installed, users ready"] = time.monotonic() - started
        traffic.start_client(
            kube,
            deployed=deployed,
            prefix=RELEASE,
            image=f"{image_names.SERVICES}:{gochat_images[image_names.SERVICES]}",
            channel=channel,
            users=users,
            count=COUNT,
        )
        chaos_started = time.monotonic()
        victims = [
            _delete_one(kube, namespace, "app.kubernetes.io/component=ws", f"deploy/{RELEASE}-ws"),
            _delete_one(
                kube, namespace, "app.kubernetes.io/component=api", f"deploy/{RELEASE}-api"
            ),
            _delete_one(kube, namespace, "app.kubernetes.io/name=nats", "statefulset/nats"),
        ]
        timings["three pods deleted and replaced"] = time.monotonic() - chaos_started
        # Otherwise the sender was done before the last deletion: make COUNT larger.
        assert "SENT" not in traffic.logs(kube, namespace)
        result = traffic.finish_and_check(kube, namespace, count=COUNT)
        timings["client done"] = time.monotonic() - started
    print(
        {step: round(seconds) for step, seconds in timings.items()},
        "victims", victims,
        "resumes", [listener["resumes"] for listener in result["listeners"]],
    )  # fmt: skip
