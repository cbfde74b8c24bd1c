"""The GoChatCluster status as pydantic models: written by the operator, typed in the CRD."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gochat_operator.specs.model import base

Phase = Literal["Pending", "Migrating", "Progressing", "Ready", "Degraded", "Paused"]


class Condition(base.SpecModel):
    """A standard Kubernetes condition."""

    type: str = Field(description="Ready, Progressing, MigrationsComplete, Degraded or Paused.")
    status: Literal["True", "False", "Unknown"] = Field(description="Condition status.")
    reason: str = Field(description="CamelCase machine-readable reason.")
    message: str = Field(default="", description="Human-readable detail.")
    last_transition_time: str | None = Field(
        default=None, description="When the status last changed (RFC 3339)."
    )
    observed_generation: int | None = Field(
        default=None, description="Generation of the spec this condition was computed for."
    )


class ComponentStatus(base.SpecModel):
    """Observed replicas of one component's Deployment."""

    desired: int = Field(default=0, description="Replicas the Deployment wants.")
    ready: int = Field(default=0, description="Ready replicas.")
    updated: int = Field(default=0, description="Replicas running the current pod template.")


class MigrationStatus(base.SpecModel):
    """The migration Job of the version being rolled out."""

    version: str | None = Field(default=None, description="Version being migrated to.")
    job: str | None = Field(default=None, description="Name of its Job.")
    attempts: int = Field(default=0, description="Jobs started for this version.")
    last_failure_time: str | None = Field(
        default=None, description="When the last Job of this version failed (RFC 3339)."
    )


class GoChatClusterStatus(base.SpecModel):
    """Observed state, computed from the children the operator sees."""

    observed_generation: int | None = Field(
        default=None, description="Generation of the spec last reconciled."
    )
    phase: Phase | None = Field(default=None, description="One-word summary.")
    version: str | None = Field(
        default=None, description="Version the Deployments run (the last migrated version)."
    )
    image: str | None = Field(default=None, description="Image reference the Deployments run.")
    conditions: list[Condition] = Field(default_factory=list, description="Conditions.")
    components: dict[str, ComponentStatus] = Field(
        default_factory=dict, description="Replicas per component (api, auth, ws, indexer)."
    )
    endpoints: dict[str, str] = Field(
        default_factory=dict, description="In-cluster URL of each component's Service."
    )
    migration: MigrationStatus = Field(
        default_factory=MigrationStatus, description="Migration in progress, if any."
    )
