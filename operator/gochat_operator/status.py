"""Status of a GoChatCluster, computed only from what the reconcile observed.

`compute_status` is pure: the reconcile gathers observations (Deployments as applied, the
migration's state, input problems) and this turns them into phase and conditions.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any, Literal

from gochat_operator.specs import inputs, meta

MigrationState = Literal["complete", "running", "failed", "blocked"]


@dataclasses.dataclass(frozen=True)
class Observation:
    generation: int
    paused: bool
    problems: list[str]  # missing or malformed inputs (Secrets), empty when fine
    migration: MigrationState
    migration_message: str
    serving: inputs.Release | None
    desired: inputs.Release
    deployments: dict[str, dict[str, Any]]  # component -> Deployment as the API returned it
    endpoints: dict[str, str]


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def replicas(deployment: dict[str, Any] | None) -> dict[str, int]:
    if not deployment:
        return {"desired": 0, "ready": 0, "updated": 0}
    status = deployment.get("status", {})
    return {
        "desired": int(deployment.get("spec", {}).get("replicas", 0)),
        "ready": int(status.get("readyReplicas", 0)),
        "updated": int(status.get("updatedReplicas", 0)),
    }


def rolled_out(deployment: dict[str, Any] | None) -> bool:
    """The Deployment controller saw the latest spec and every replica is updated and ready."""
    if not deployment:
        return False
    status = deployment.get("status", {})
    counts = replicas(deployment)
    return (
        status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 0)
        and counts["updated"] >= counts["desired"]
        and counts["ready"] >= counts["desired"]
        and int(status.get("replicas", 0)) == counts["desired"]
    )


def phase_and_conditions(obs: Observation) -> tuple[str, list[tuple[str, bool, str, str]]]:
    """(phase, [(type, status, reason, message)]) — the decision table in one place."""
    all_rolled_out = bool(obs.deployments) and all(
        rolled_out(obs.deployments.get(c)) for c in meta.COMPONENTS
    )
    migrated = obs.migration == "complete"
    degraded_reason, degraded_message = "AsExpected", ""
    if obs.problems:
        degraded_reason, degraded_message = "InvalidReference", "; ".join(obs.problems)
    elif obs.migration == "failed":
        degraded_reason, degraded_message = "MigrationFailed", obs.migration_message
    degraded = degraded_reason != "AsExpected"
    if obs.paused:
        phase = "Paused"
    elif degraded:
        phase = "Degraded"
    elif not migrated:
        phase = "Migrating"
    elif not all_rolled_out:
        phase = "Progressing"
    else:
        phase = "Ready"
    progressing = not obs.paused and not degraded and phase in ("Migrating", "Progressing")
    ready = all_rolled_out and migrated and not degraded
    return phase, [
        ("Ready", ready, "AllComponentsReady" if ready else phase, ready_message(obs, phase)),
        ("Progressing", progressing, phase if progressing else "Stable", ""),
        (
            "MigrationsComplete",
            migrated,
            {
                "complete": "Migrated",
                "running": "MigrationRunning",
                "failed": "MigrationFailed",
                "blocked": "WaitingForInputs",
            }[obs.migration],
            obs.migration_message,
        ),
        ("Degraded", degraded, degraded_reason, degraded_message),
        (
            "Paused",
            obs.paused,
            "PauseAnnotation" if obs.paused else "Reconciling",
            f"{meta.PAUSED_ANNOTATION} is set: not reconciling" if obs.paused else "",
        ),
    ]


def ready_message(obs: Observation, phase: str) -> str:
    waiting = [c for c in meta.COMPONENTS if not rolled_out(obs.deployments.get(c))]
    if phase == "Ready":
        return f"version {obs.serving.version if obs.serving else '?'} serving"
    if waiting and obs.deployments:
        return "waiting for " + ", ".join(waiting)
    return ""


def compute_status(obs: Observation, previous: dict[str, Any]) -> dict[str, Any]:
    """The status subresource body; lastTransitionTime kept while a condition's status holds."""
    phase, rows = phase_and_conditions(obs)
    before = {c.get("type"): c for c in previous.get("conditions", [])}
    conditions = []
    for kind, value, reason, message in rows:
        status = "True" if value else "False"
        old = before.get(kind, {})
        since = old.get("lastTransitionTime") if old.get("status") == status else None
        conditions.append(
            {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "lastTransitionTime": since or now_rfc3339(),
                "observedGeneration": obs.generation,
            }
        )
    return {
        "observedGeneration": obs.generation,
        "phase": phase,
        "version": obs.serving.version if obs.serving else None,
        "image": obs.serving.image if obs.serving else None,
        "conditions": conditions,
        "components": {c: replicas(obs.deployments.get(c)) for c in meta.COMPONENTS},
        "endpoints": obs.endpoints,
    }
