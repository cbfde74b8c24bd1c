"""Scenario 3, chaos: while a sender posts (tests/e2e/kind/chaos_client.py, a Job in the
cluster reaching the Services by name), a gateway pod, an API pod and the NATS pod are deleted
in turn. Every message the API acknowledged is in the history exactly once, reaches each
connected gateway client exactly once (the clients resume on a new connection), and the outbox
drains to zero."""

from __future__ import annotations

import collections
import json
import time
from pathlib import Path

import httpx
import pytest

from gochat.contract import images as image_names
from tests.e2e import user_flow
from tests.e2e.kind import access, backends, platform

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

CHART = backends.backend_images.DEPLOY.parents[1] / "charts" / "gochat"
CLIENT = Path(__file__).with_name("chaos_client.py")
RELEASE = "gochat"
JOB = "chaos-client"
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


def _channel_with_members(
    endpoints: user_flow.Endpoints, read_mail: user_flow.ReadMail
) -> tuple[str, list[user_flow.User]]:
    """A channel; its owner (the sender) and two members who joined by invite."""
    with (
        httpx.Client(base_url=endpoints.auth, timeout=30) as auth,
        httpx.Client(base_url=endpoints.api, timeout=30) as api,
    ):
        users = [user_flow.sign_up(auth, read_mail, name) for name in ("sender", "lis", "ten")]
        guild = api.post("/guilds", json={"name": "chaos"}, headers=users[0].headers).json()
        channel = api.post(
            f"/guilds/{guild['id']}/channels", json={"name": "storm"}, headers=users[0].headers
        ).json()
        for member in users[1:]:
            invite = api.post(
                f"/channels/{channel['id']}/invites", json={"max_uses": 1}, headers=users[0].headers
            ).json()
            joined = api.post(f"/invites/{invite['code']}/accept", headers=member.headers)
            assert joined.status_code == 200, joined.text
    return str(channel["id"]), users


def _delete_one(kube: access.ClusterAccess, namespace: str, selector: str, workload: str) -> str:
    pods = kube.get_json("pods", "-n", namespace, "-l", selector)["items"]
    victim = sorted(p["metadata"]["name"] for p in pods)[0]
    kube.kubectl("-n", namespace, "delete", "pod", victim, "--wait=false")
    kube.kubectl("-n", namespace, "rollout", "status", workload, "--timeout=180s")
    return victim


def _wait_for_log(kube: access.ClusterAccess, namespace: str, marker: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while marker not in backends.job_logs(kube, namespace=namespace, name=JOB):
        if time.monotonic() > deadline:
            raise AssertionError(backends.job_logs(kube, namespace=namespace, name=JOB))
        time.sleep(1)


def test_acked_messages_survive_gateway_api_and_nats_pod_deletions_exactly_once(
    kube: access.ClusterAccess, gochat_images: dict[str, str]
) -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()
    with backends.namespace(kube, "e2e-chaos") as namespace:
        deployed = backends.deploy(kube, namespace)
        _install(kube, deployed, gochat_images[image_names.SERVICES])
        with platform.endpoints(kube, namespace, RELEASE) as endpoints:
            channel, users = _channel_with_members(endpoints, platform.mail_reader(kube, namespace))
        timings["installed, users ready"] = time.monotonic() - started
        backends.start_python_job(
            kube,
            namespace=namespace,
            name=JOB,
            image=f"{image_names.SERVICES}:{gochat_images[image_names.SERVICES]}",
            script=CLIENT.read_text(),
            env={
                "API": f"http://{RELEASE}-api:8080",
                "WS": f"ws://{RELEASE}-ws:8082/ws",
                "CHANNEL": channel,
                "SENDER": users[0].token,
                "LISTENERS": json.dumps([user.token for user in users[1:]]),
                "COUNT": "240",
            },
            secret_env={"DSN": (deployed.dsn_secret, "dsn")},
        )
        _wait_for_log(kube, namespace, "LISTENING", timeout=120)
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
        assert "SENT" not in backends.job_logs(kube, namespace=namespace, name=JOB)
        logs = backends.finish_job(kube, namespace=namespace, name=JOB, timeout=600)
        timings["client done"] = time.monotonic() - started

    result = json.loads(logs.split("RESULT ", 1)[1].splitlines()[0])
    acked = result["acked"]
    assert len(acked) == 240 and len(set(acked)) == 240
    stored = collections.Counter(message_id for message_id, _ in result["history"])
    contents = collections.Counter(content for _, content in result["history"])
    assert {m: stored[m] for m in acked if stored[m] != 1} == {}, "acked not stored exactly once"
    assert [c for c, n in contents.items() if n > 1] == [], "a retried post was stored twice"
    for listener in result["listeners"]:
        received = listener["received"]
        missing = [m for m in acked if m not in received]
        twice = {m: n for m, n in received.items() if n > 1}
        assert (missing, twice) == ([], {}), listener
        assert listener["reidentified"] == 0, listener
    assert result["outbox_rows"] == 0
    print(
        {step: round(seconds) for step, seconds in timings.items()},
        "victims", victims,
        "resumes", [listener["resumes"] for listener in result["listeners"]],
    )  # fmt: skip
