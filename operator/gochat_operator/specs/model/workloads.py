"""Image and per-component (api, auth, ws, indexer) settings of a GoChatCluster."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gochat.contract import images
from gochat_operator.specs.model import base


class Image(base.SpecModel):
    """The one container image all GoChat services run from."""

    cel_rules = (
        base.Rule(
            rule="!(has(self.tag) && has(self.digest))",
            message="at most one of image.tag or image.digest may be set",
        ),
    )
    repository: str = Field(
        default=images.SERVICES,
        min_length=1,
        max_length=255,
        description="Image repository, without tag or digest.",
    )
    tag: str | None = Field(
        default=None,
        max_length=128,
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$",
        description="Image tag; with neither tag nor digest, the version. At most one of the two.",
    )
    digest: str | None = Field(
        default=None,
        pattern=r"^sha256:[a-f0-9]{64}$",
        description="Image digest (sha256:...). At most one of tag or digest.",
    )
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        default="IfNotPresent", description="Image pull policy of every GoChat container."
    )
    pull_secrets: list[str] = Field(
        default_factory=list, description="Names of image pull Secrets in the namespace."
    )

    def reference(self, version: str) -> str:
        """The image reference a container runs: repository@digest, repository:tag, or (as
        charts/gochat does) repository:<version> when neither is set."""
        if self.digest:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag or version}"


class ScalingPolicy(base.SpecModel):
    """One autoscaling/v2 HPAScalingPolicy: at most `value` pods (or percent) per period."""

    type: Literal["Pods", "Percent"] = Field(
        description="Pods: a number of pods; Percent: a percentage of the current replicas."
    )
    value: int = Field(ge=1, le=100_000, description="How many pods, or what percentage.")
    period_seconds: int = Field(
        ge=1, le=1800, description="The window the policy holds over, in seconds."
    )


class ScalingRules(base.SpecModel):
    """autoscaling/v2 HPAScalingRules of one direction; an unset field keeps Kubernetes' default."""

    stabilization_window_seconds: int | None = Field(
        default=None,
        ge=0,
        le=3600,
        description=(
            "Seconds of past recommendations the HPA considers before it scales (Kubernetes:"
            " 0 up, 300 down)."
        ),
    )
    select_policy: Literal["Max", "Min", "Disabled"] | None = Field(
        default=None,
        description="Which policy wins (Max by default); Disabled: never scale this way.",
    )
    policies: list[ScalingPolicy] | None = Field(
        default=None, min_length=1, max_length=10, description="The scaling policies."
    )


class ScalingBehavior(base.SpecModel):
    """autoscaling/v2 HorizontalPodAutoscalerBehavior, passed to the HPA as written."""

    scale_up: ScalingRules | None = Field(default=None, description="Rules for scaling up.")
    scale_down: ScalingRules | None = Field(default=None, description="Rules for scaling down.")


# An HPA with no metric falls back to 80% CPU: each class names the metric that may stand in
# for a CPU target of 0.
_NEEDS_A_METRIC = "autoscaling.targetCpuUtilization is 0 and no other metric is set"


class Autoscaling(base.SpecModel):
    """A HorizontalPodAutoscaler (autoscaling/v2) for the component."""

    cel_rules = (
        base.Rule(
            rule="self.minReplicas <= self.maxReplicas",
            message="autoscaling.minReplicas must be less than or equal to maxReplicas",
        ),
        base.Rule(
            rule="!self.enabled || self.targetCpuUtilization > 0",
            message=f"{_NEEDS_A_METRIC}: the HPA would have no metric",
        ),
    )
    enabled: bool = Field(
        default=False,
        description="Scale with an HPA; the operator then never sets the Deployment's replicas.",
    )
    min_replicas: int = Field(default=2, ge=1, le=1000, description="HPA lower bound.")
    max_replicas: int = Field(default=10, ge=1, le=1000, description="HPA upper bound.")
    target_cpu_utilization: int = Field(
        default=70,
        ge=0,
        le=100,
        description=(
            "Average CPU utilisation target, in percent (needs metrics-server and CPU requests);"
            " 0: no CPU metric."
        ),
    )
    behavior: ScalingBehavior | None = Field(
        default=None,
        description="autoscaling/v2 scaling behavior (stabilization windows, policies).",
    )


class WsAutoscaling(Autoscaling):
    """The ws gateway also scales on the WebSocket connections each pod holds."""

    cel_rules = (
        Autoscaling.cel_rules[0],
        base.Rule(
            rule=(
                "!self.enabled || self.targetCpuUtilization > 0"
                " || has(self.targetConnectionsPerPod)"
            ),
            message=f"{_NEEDS_A_METRIC} (targetConnectionsPerPod): the HPA would have no metric",
        ),
    )
    target_connections_per_pod: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description=(
            "Average gochat_ws_connections per pod (a Pods metric served by a custom"
            " metrics adapter); unset means CPU only."
        ),
    )


class Scheduling(base.SpecModel):
    """Where the component's pods may run."""

    node_selector: dict[str, str] = Field(
        default_factory=dict, description="Node labels the pods require."
    )
    affinity: base.KubeObject | None = Field(default=None, description="A core/v1 Affinity.")
    tolerations: list[base.KubeObject] = Field(
        default_factory=list, description="core/v1 Tolerations."
    )
    topology_spread_constraints: list[base.KubeObject] = Field(
        default_factory=list, description="core/v1 TopologySpreadConstraints."
    )


class Component(base.SpecModel):
    """One GoChat service (api, auth, ws or indexer)."""

    replicas: int = Field(
        default=2, ge=0, le=1000, description="Replicas when autoscaling is disabled."
    )
    resources: base.KubeObject = Field(
        default_factory=dict, description="core/v1 ResourceRequirements of the container."
    )
    autoscaling: Autoscaling = Field(default_factory=Autoscaling, description="HPA settings.")
    scheduling: Scheduling = Field(default_factory=Scheduling, description="Pod placement.")
    pod_labels: dict[str, str] = Field(
        default_factory=dict, description="Extra labels on the pods."
    )
    pod_annotations: dict[str, str] = Field(
        default_factory=dict, description="Extra annotations on the pods."
    )
    extra_env: list[base.KubeObject] = Field(
        default_factory=list,
        description="core/v1 EnvVars appended to the container (GOCHAT_<KEY> overrides config).",
    )


class WsComponent(Component):
    """The ws gateway: a Component whose autoscaling can use connections per pod."""

    autoscaling: WsAutoscaling = Field(default_factory=WsAutoscaling, description="HPA settings.")


class Components(base.SpecModel):
    """The four services."""

    api: Component = Field(default_factory=Component, description="REST API (port 8080).")
    auth: Component = Field(default_factory=Component, description="Auth service (port 8081).")
    ws: WsComponent = Field(
        default_factory=WsComponent, description="WebSocket gateway (port 8082)."
    )
    indexer: Component = Field(default_factory=Component, description="Search indexer (port 8083).")
