"""A change to a referenced Secret reconciles its cluster within seconds: no resync, no backoff.

The operator here resyncs, re-checks problems and re-reads cached Secrets only once an hour,
so only the Secret watch can make these tests pass in time.
"""

from __future__ import annotations

import base64
import pathlib
import time
from collections.abc import Iterator

import pytest

from gochat_operator.specs import meta
from tests.operator import k8s_support

pytestmark = pytest.mark.k8s
HOUR = "3600"
PROMPTLY = 10.0  # seconds; the debounce is 1 s, the rest is the API server and KWOK


@pytest.fixture
def slow_operator(
    gochat: k8s_support.Cluster, tmp_path: pathlib.Path
) -> Iterator[k8s_support.OperatorProcess]:
    process = k8s_support.OperatorProcess(
        cluster=gochat.k8s, namespace=gochat.namespace, log_path=tmp_path / "operator.log",
        env={
            "GOCHAT_OPERATOR_RESYNC_SECONDS": HOUR,
            "GOCHAT_OPERATOR_PROBLEM_BACKOFF": HOUR,
            "GOCHAT_OPERATOR_PROBLEM_BACKOFF_CAP": HOUR,
            "GOCHAT_OPERATOR_SECRET_CACHE_SECONDS": HOUR,
        },
    )  # fmt: skip
    process.start()
    try:
        yield process
    finally:
        process.stop()


def config_hash(gochat: k8s_support.Cluster, component: str = "api") -> str:
    deployment = gochat.get("deployment", f"chat-{component}") or {}
    annotations = deployment["spec"]["template"]["metadata"].get("annotations") or {}
    return str(annotations[meta.CONFIG_HASH_ANNOTATION])


def reconciles(operator: k8s_support.OperatorProcess) -> float:
    total = 0.0
    for line in operator.metrics().splitlines():
        if line.startswith("gochat_operator_reconciles_total{"):
            total += float(line.split()[-1])
    return total


def assert_quiet(operator: k8s_support.OperatorProcess, *, seconds: float = 4) -> None:
    """No reconcile for `seconds`, after a moment for the last status write to settle."""
    time.sleep(2)
    settled = reconciles(operator)
    time.sleep(seconds)
    assert reconciles(operator) == settled


def test_rotated_secret_rolls_the_pods_within_seconds(
    gochat: k8s_support.Cluster, slow_operator: k8s_support.OperatorProcess
) -> None:
    gochat.create_dsn_secret()
    gochat.apply(k8s_support.sample())
    gochat.wait_ready("chat")
    before = {c: config_hash(gochat, c) for c in meta.COMPONENTS}
    # At rest nothing reconciles; the JWT Secret the operator created did not wake its cluster.
    assert_quiet(slow_operator)
    assert f"Secret {gochat.namespace}/chat-jwt" not in slow_operator.log()

    rotated = base64.b64encode(b"postgresql://u:rotated@pg:5432/gochat").decode()
    gochat.patch("secret", "chat-postgres", {"data": {"dsn": rotated}})
    started = time.monotonic()
    k8s_support.wait_until(
        "the api pod template hash changes",
        lambda: config_hash(gochat) != before["api"],
        timeout=PROMPTLY,
    )
    assert time.monotonic() - started < PROMPTLY
    assert f"Secret {gochat.namespace}/chat-postgres modified" in slow_operator.log()
    after = {c: config_hash(gochat, c) for c in meta.COMPONENTS}
    assert all(after[c] != before[c] for c in meta.COMPONENTS), (before, after)
    gochat.wait_ready("chat")


def test_deleted_then_recreated_secret_is_degraded_then_ready_without_the_backoff(
    gochat: k8s_support.Cluster, slow_operator: k8s_support.OperatorProcess
) -> None:
    gochat.create_dsn_secret()
    gochat.apply(k8s_support.sample())
    gochat.wait_ready("chat")

    gochat.kubectl("delete", "secret", "chat-postgres")
    k8s_support.wait_until(
        "Degraded naming the deleted Secret",
        lambda: "'chat-postgres'" in gochat.condition("chat", "Degraded").get("message", ""),
        timeout=PROMPTLY,
    )
    assert gochat.condition("chat", "Ready")["status"] == "False"
    # The next re-check of the problem is an hour away: only the Secret's event can fix it.
    gochat.create_dsn_secret()
    gochat.wait_ready("chat", timeout=PROMPTLY)
    assert gochat.condition("chat", "Degraded")["status"] == "False"


def test_secret_missing_at_creation_is_picked_up_when_it_appears(
    gochat: k8s_support.Cluster, slow_operator: k8s_support.OperatorProcess
) -> None:
    gochat.apply(k8s_support.sample())
    k8s_support.wait_until(
        "Degraded naming the missing Secret",
        lambda: "'chat-postgres'" in gochat.condition("chat", "Degraded").get("message", ""),
        timeout=30,
    )
    gochat.create_dsn_secret()
    gochat.wait_ready("chat", timeout=PROMPTLY + 10)  # + the migration Job and the rollout


def test_unreferenced_secrets_do_not_wake_any_cluster(
    gochat: k8s_support.Cluster, slow_operator: k8s_support.OperatorProcess
) -> None:
    gochat.create_dsn_secret()
    gochat.apply(k8s_support.sample())
    gochat.wait_ready("chat")
    assert_quiet(slow_operator)
    settled = reconciles(slow_operator)
    gochat.kubectl("create", "secret", "generic", "unrelated", "--from-literal=a=b")
    gochat.patch("secret", "unrelated", {"data": {"a": base64.b64encode(b"c").decode()}})
    time.sleep(3)
    assert reconciles(slow_operator) == settled
    assert "Traceback" not in slow_operator.log(), slow_operator.log()
