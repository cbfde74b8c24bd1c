"""Status decisions and the requeue, without a cluster."""

from __future__ import annotations

import asyncio
from typing import Any

from gochat_operator import migrations, status, workqueue
from gochat_operator.specs import inputs

RELEASE = inputs.Release("1.0.0", "img:1.0.0")


def deployment(*, desired: int = 2, ready: int = 2, generation: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": desired},
        "status": {
            "observedGeneration": generation,
            "replicas": desired,
            "readyReplicas": ready,
            "updatedReplicas": desired,
        },
    }


def observation(**overrides: Any) -> status.Observation:
    values: dict[str, Any] = {
        "generation": 3,
        "paused": False,
        "problems": [],
        "migration": "complete",
        "migration_message": "",
        "serving": RELEASE,
        "desired": RELEASE,
        "deployments": {c: deployment() for c in ("api", "auth", "ws", "indexer")},
        "endpoints": {},
    }
    return status.Observation(**{**values, **overrides})


def conditions(obs: status.Observation) -> dict[str, tuple[str, str]]:
    computed = status.compute_status(obs, {})
    return {c["type"]: (c["status"], c["reason"]) for c in computed["conditions"]}


def test_all_rolled_out_and_migrated_is_ready() -> None:
    assert status.compute_status(observation(), {})["phase"] == "Ready"
    assert conditions(observation())["Ready"] == ("True", "AllComponentsReady")


def test_a_replica_not_ready_is_progressing() -> None:
    obs = observation(deployments={**observation().deployments, "ws": deployment(ready=1)})
    assert status.compute_status(obs, {})["phase"] == "Progressing"
    assert conditions(obs)["Progressing"] == ("True", "Progressing")


def test_failed_migration_is_degraded_and_not_ready() -> None:
    obs = observation(migration="failed", migration_message="Job x failed")
    assert status.compute_status(obs, {})["phase"] == "Degraded"
    assert conditions(obs)["Degraded"] == ("True", "MigrationFailed")
    assert conditions(obs)["MigrationsComplete"] == ("False", "MigrationFailed")


def test_transition_time_is_kept_while_the_status_holds() -> None:
    first = status.compute_status(observation(), {})
    first["conditions"][0]["lastTransitionTime"] = "2020-01-01T00:00:00Z"
    again = status.compute_status(observation(), first)
    assert again["conditions"][0]["lastTransitionTime"] == "2020-01-01T00:00:00Z"


def test_migration_backoff_doubles_up_to_a_cap() -> None:
    delays = [migrations.backoff_seconds(n, base=30, cap=600) for n in range(1, 7)]
    assert delays == [30, 60, 120, 240, 480, 600]


async def test_requeue_coalesces_a_burst_into_one_reconcile() -> None:
    calls: list[tuple[str, str]] = []

    async def work(namespace: str, name: str) -> float | None:
        calls.append((namespace, name))
        return None

    queue = workqueue.Workqueue(work, debounce=0.05)
    for _ in range(20):
        queue.request(("ns", "chat"))
    queue.request(("ns", "other"))
    await asyncio.sleep(0.2)
    assert sorted(calls) == [("ns", "chat"), ("ns", "other")]


async def test_an_earlier_request_overrides_a_later_one() -> None:
    calls: list[float] = []
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def work(namespace: str, name: str) -> float | None:
        calls.append(loop.time() - start)
        return None

    queue = workqueue.Workqueue(work, debounce=0.05)
    queue.request(("ns", "chat"), delay=60)  # e.g. a resync
    queue.request(("ns", "chat"))  # a child event
    await asyncio.sleep(0.2)
    await queue.close()
    assert len(calls) == 1 and calls[0] < 1
