"""Which release the Deployments may run, driven by the migration Job of the desired one.

- the desired release is already serving (or migrations are off): serve it;
- otherwise its Job (named by version) is created if absent and observed:
  succeeded -> serve the desired release; running -> keep serving the old one;
  failed -> keep the old one, report, and after a backoff delete and recreate the Job.
Attempts and the last failure time live in `status.migration`, so a restarted operator
continues the same backoff instead of starting a storm of Jobs. Once a migration succeeded,
the Jobs of versions older than the previous one are deleted.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from gochat_operator import kube, status
from gochat_operator.specs import bundle, inputs, meta, migration

POLL_WHILE_RUNNING = 15.0  # the Job watch usually wakes us first; this is the safety net


@dataclasses.dataclass
class Decision:
    serving: inputs.Release | None
    state: status.MigrationState
    message: str
    record: dict[str, Any]  # status.migration
    requeue_after: float | None = None
    events: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)


def job_outcome(job: dict[str, Any]) -> tuple[str, str]:
    """('succeeded'|'failed'|'running', when the terminal condition happened)."""
    for condition in job.get("status", {}).get("conditions", []):
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return "succeeded", condition.get("lastTransitionTime", "")
        if condition.get("type") == "Failed":
            return "failed", condition.get("lastTransitionTime", "")
    return "running", ""


def backoff_seconds(attempts: int, *, base: float, cap: float) -> float:
    return float(min(cap, base * 2 ** max(0, attempts - 1)))


def seconds_since(timestamp: str) -> float:
    then = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    return (datetime.datetime.now(datetime.UTC) - then).total_seconds()


def previous_release(previous_status: dict[str, Any]) -> inputs.Release | None:
    if previous_status.get("version") and previous_status.get("image"):
        return inputs.Release(previous_status["version"], previous_status["image"])
    return None


async def decide(
    k: kube.Kube,
    cluster: inputs.ClusterInput,
    previous_status: dict[str, Any],
    *,
    backoff_base: float,
    backoff_cap: float = 600.0,
) -> Decision:
    desired, old = cluster.desired, previous_release(previous_status)
    record = dict(previous_status.get("migration") or {})
    if not cluster.spec.migrations.enabled or (old and old.version == desired.version):
        # Same version (maybe a re-pinned image): nothing to migrate.
        return Decision(desired, "complete", "", {})
    name = migration.job_name(cluster, desired.version)
    if record.get("version") != desired.version:
        record = {"version": desired.version, "job": name, "attempts": 1}
    job = await k.get("batch/v1", "Job", cluster.namespace, name)
    if job is None:
        await k.apply(bundle.render_migration_job(cluster))
        events = [("Normal", "MigrationStarted", f"Job {name} migrates to {desired.version}")]
        return Decision(old, "running", f"Job {name} running", record, POLL_WHILE_RUNNING, events)
    if job["metadata"].get("deletionTimestamp"):
        return Decision(old, "running", f"Job {name} being replaced", record, 1.0)
    outcome, when = job_outcome(job)
    if outcome == "succeeded":
        events = [("Normal", "MigrationSucceeded", f"Job {name} migrated to {desired.version}")]
        keep = {desired.version, *([old.version] if old else [])}
        events += await prune_old_jobs(k, cluster, keep_versions=keep)
        return Decision(desired, "complete", f"Job {name} succeeded", {}, None, events)
    if outcome == "running":
        return Decision(old, "running", f"Job {name} running", record, POLL_WHILE_RUNNING)
    return await handle_failure(
        k, cluster, job_name=name, failed_at=when, record=record, old=old,
        backoff=backoff_seconds(int(record.get("attempts", 1)), base=backoff_base, cap=backoff_cap),
    )  # fmt: skip


async def handle_failure(
    k: kube.Kube,
    cluster: inputs.ClusterInput,
    *,
    job_name: str,
    failed_at: str,
    record: dict[str, Any],
    old: inputs.Release | None,
    backoff: float,
) -> Decision:
    serving = f"; {old.version} keeps serving" if old else ""
    message = f"Job {job_name} failed (attempt {record.get('attempts', 1)}){serving}"
    events = []
    if record.get("lastFailureTime") != failed_at:
        record["lastFailureTime"] = failed_at
        events.append(("Warning", "MigrationFailed", f"{message}; retrying in {backoff:.0f}s"))
    remaining = backoff - seconds_since(failed_at) if failed_at else 0.0
    if remaining > 0:
        return Decision(old, "failed", message, record, remaining, events)
    await k.delete("batch/v1", "Job", cluster.namespace, job_name)
    record["attempts"] = int(record.get("attempts", 1)) + 1
    events.append(("Normal", "MigrationRetry", f"recreating Job {job_name}"))
    return Decision(old, "failed", message, record, 1.0, events)


async def prune_old_jobs(
    k: kube.Kube, cluster: inputs.ClusterInput, *, keep_versions: set[str]
) -> list[tuple[str, str, str]]:
    """Delete the cluster's migration Jobs of versions other than `keep_versions` (the one now
    serving and the one before it, kept for debugging a rollback); their pods go with them.
    A Job still running is never deleted (a later upgrade prunes it). The Events to post."""
    selector = ",".join(
        f"{key}={value}" for key, value in meta.selector_labels(cluster, "migrate").items()
    )
    events = []
    for job in await k.list_labelled("batch/v1", "Job", cluster.namespace, label_selector=selector):
        metadata = job["metadata"]
        version = (metadata.get("annotations") or {}).get(migration.VERSION_ANNOTATION)
        ours = any(ref.get("uid") == cluster.uid for ref in metadata.get("ownerReferences") or [])
        if not ours or version is None or version in keep_versions:
            continue
        if metadata.get("deletionTimestamp") or job_outcome(job)[0] == "running":
            continue
        await k.delete("batch/v1", "Job", cluster.namespace, metadata["name"], bulk=True)
        events.append(
            ("Normal", "MigrationJobPruned", f"deleted Job {metadata['name']} of version {version}")
        )
    return events
