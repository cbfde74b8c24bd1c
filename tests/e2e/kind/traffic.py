"""Traffic under disruption, shared by the chaos and upgrade scenarios: a channel with a sender
and two listeners, ``chaos_client.py`` run as a Job inside the cluster (the Services' load
balancing takes its new connections, not a port-forward pinned to one pod), and the checks on
what it reports."""

from __future__ import annotations

import collections
import json
import time
from pathlib import Path
from typing import Any

import httpx

from tests.e2e import user_flow
from tests.e2e.kind import access, backends

CLIENT = Path(__file__).with_name("chaos_client.py")
JOB = "chaos-client"


def channel_with_members(
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


def start_client(
    kube: access.ClusterAccess,
    *,
    deployed: backends.Backends,
    prefix: str,
    image: str,
    channel: str,
    users: list[user_flow.User],
    count: int,
) -> None:
    """The Job; returns once its gateway clients are identified (LISTENING)."""
    backends.start_python_job(
        kube,
        namespace=deployed.namespace,
        name=JOB,
        image=image,
        script=CLIENT.read_text(),
        env={
            "API": f"http://{prefix}-api:8080",
            "WS": f"ws://{prefix}-ws:8082/ws",
            "CHANNEL": channel,
            "SENDER": users[0].token,
            "LISTENERS": json.dumps([user.token for user in users[1:]]),
            "COUNT": str(count),
        },
        secret_env={"DSN": (deployed.dsn_secret, "dsn")},
    )
    wait_for_log(kube, deployed.namespace, "LISTENING", timeout=120)


def logs(kube: access.ClusterAccess, namespace: str) -> str:
    return backends.job_logs(kube, namespace=namespace, name=JOB)


def wait_for_log(kube: access.ClusterAccess, namespace: str, marker: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while marker not in logs(kube, namespace):
        if time.monotonic() > deadline:
            raise AssertionError(logs(kube, namespace))
        time.sleep(1)


def finish_and_check(kube: access.ClusterAccess, namespace: str, *, count: int) -> dict[str, Any]:
    """Wait for the Job, then: every acked message stored exactly once (no content twice),
    delivered exactly once to each listener without a gap in its sequence and without a lost
    session, the outbox empty. Returns the client's result."""
    output = backends.finish_job(kube, namespace=namespace, name=JOB, timeout=600)
    result: dict[str, Any] = json.loads(output.split("RESULT ", 1)[1].splitlines()[0])
    acked = result["acked"]
    assert len(acked) == count and len(set(acked)) == count
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
        assert listener["gaps"] == 0, listener
    assert result["outbox_rows"] == 0
    return result
