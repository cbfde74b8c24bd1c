"""Which migration Jobs the operator deletes once an upgrade succeeded (no cluster needed)."""

from __future__ import annotations

from typing import Any

from gochat_operator import migrations
from gochat_operator.specs import migration
from tests.operator import cluster_inputs

CLUSTER = cluster_inputs.cluster_input("minimal")


def job(version: str, *, state: str = "Complete", owner: str = CLUSTER.uid) -> dict[str, Any]:
    conditions = [{"type": state, "status": "True"}] if state != "running" else []
    return {
        "metadata": {
            "name": migration.job_name(CLUSTER, version),
            "annotations": {migration.VERSION_ANNOTATION: version},
            "ownerReferences": [{"uid": owner}],
        },
        "status": {"conditions": conditions},
    }


class JobsKube:
    def __init__(self, jobs: list[dict[str, Any]]) -> None:
        self.jobs = jobs
        self.selectors: list[str] = []
        self.deleted: list[str] = []

    async def list_labelled(self, *args: str, label_selector: str) -> list[dict[str, Any]]:
        self.selectors.append(label_selector)
        return self.jobs

    async def delete(self, *args: str, bulk: bool = False) -> None:
        self.deleted.append(args[-1])


async def test_jobs_older_than_the_previous_version_are_deleted() -> None:
    kube = JobsKube([job("0.1.0"), job("0.2.0", state="Failed"), job("0.3.0"), job("0.4.0")])
    events = await migrations.prune_old_jobs(  # type: ignore[arg-type]
        kube, CLUSTER, keep_versions={"0.4.0", "0.3.0"}
    )
    assert kube.deleted == [migration.job_name(CLUSTER, v) for v in ("0.1.0", "0.2.0")]
    assert [reason for _, reason, _ in events] == ["MigrationJobPruned"] * 2
    assert "app.kubernetes.io/instance=chat" in kube.selectors[0]
    assert "app.kubernetes.io/component=migrate" in kube.selectors[0]


async def test_running_jobs_and_jobs_of_other_owners_are_never_deleted() -> None:
    kube = JobsKube([job("0.1.0", state="running"), job("0.2.0", owner="someone-else")])
    await migrations.prune_old_jobs(kube, CLUSTER, keep_versions={"0.4.0"})  # type: ignore[arg-type]
    assert kube.deleted == []
