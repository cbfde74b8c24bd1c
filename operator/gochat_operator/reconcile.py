"""One reconcile of one GoChatCluster, as a flat list of steps.

read the resource -> honour the pause -> check referenced Secrets (make the JWT one) ->
decide the serving release (migration Job) -> apply children, prune the unwanted ones ->
compute status from what the API server returned -> patch status, post Events.
Every trigger (kopf create/update/resume, child watch events, periodic resync) runs this
same function; a per-cluster lock keeps two triggers from interleaving.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Any

import pydantic

from gochat_operator import children, kube, metrics, migrations, references, status
from gochat_operator.specs import inputs, meta
from gochat_operator.specs.model import base, cluster

EventSink = Callable[[dict[str, Any], str, str, str], None]  # body, type, reason, message
CLUSTER_API = f"{base.GROUP}/{base.VERSION}"


@dataclasses.dataclass(frozen=True)
class Outcome:
    phase: str
    # Run again after this many seconds (waiting on a Job, backing off); None: wait for events.
    requeue_after: float | None = None
    problem: str = ""


@dataclasses.dataclass
class Settings:
    migration_backoff: float = 30.0
    problem_backoff: float = 30.0
    problem_backoff_cap: float = 600.0
    capability_ttl: float = 60.0
    secret_cache_ttl: float = 30.0


class Reconciler:
    def __init__(self, k: kube.Kube, *, emit: EventSink, settings: Settings) -> None:
        self.kube = k
        self.emit = emit
        self.settings = settings
        self.locks: dict[tuple[str, str], asyncio.Lock] = {}
        # Consecutive reconciles that found bad references, per cluster: the retry delay doubles
        # with each (kept in memory: a restarted operator simply starts the backoff again).
        self.problem_attempts: dict[str, int] = {}
        self.children = children.ChildApplier(k)
        self.secrets = references.SecretCache(ttl=settings.secret_cache_ttl)
        self.capabilities: tuple[float, bool] = (0.0, False)

    async def reconcile(self, namespace: str, name: str) -> Outcome:
        lock = self.locks.setdefault((namespace, name), asyncio.Lock())
        started = time.monotonic()
        result = "error"
        try:
            async with lock:
                outcome = await self._reconcile(namespace, name)
            result = "degraded" if outcome.problem else "success"
            metrics.record_phase(namespace, name, outcome.phase)
            return outcome
        finally:
            metrics.RECONCILES.labels(result=result).inc()
            metrics.DURATION.observe(time.monotonic() - started)

    def forget(self, namespace: str, name: str) -> None:
        self.locks.pop((namespace, name), None)
        self.children.forget_namespace_cluster(namespace, name)
        metrics.record_phase(namespace, name, None)

    async def has_prometheus_operator(self) -> bool:
        checked_at, present = self.capabilities
        if time.monotonic() - checked_at > self.settings.capability_ttl:
            present = await self.kube.has_api("monitoring.coreos.com/v1", "ServiceMonitor")
            self.capabilities = (time.monotonic(), present)
        return present

    async def _reconcile(self, namespace: str, name: str) -> Outcome:
        body = await self.kube.get(CLUSTER_API, base.KIND, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return Outcome(phase="Deleted")
        previous = body.get("status") or {}
        generation = int(body["metadata"].get("generation", 0))
        annotations = body["metadata"].get("annotations") or {}
        if annotations.get(meta.PAUSED_ANNOTATION, "").lower() == "true":
            return await self.pause(body, previous, generation)
        try:
            spec = cluster.GoChatClusterSpec.model_validate(body.get("spec") or {})
        except pydantic.ValidationError as error:  # the CRD schema should make this unreachable
            return await self.report_problems(
                body, previous, generation, [f"invalid spec: {error}"]
            )
        unchecked = inputs.ClusterInput(
            name=name, namespace=namespace, uid=body["metadata"]["uid"], spec=spec, serving=None,
            has_prometheus_operator=await self.has_prometheus_operator(),
        )  # fmt: skip
        checked = await references.check(self.kube, unchecked, cache=self.secrets)
        if checked.generated_jwt_secret:
            self.emit(
                body,
                "Normal",
                "JWTSecretGenerated",
                f"generated Secret {checked.generated_jwt_secret}",
            )
        if checked.problems:
            return await self.report_problems(body, previous, generation, checked.problems)
        self.problem_attempts.pop(body["metadata"]["uid"], None)
        with_secrets = dataclasses.replace(unchecked, secret_digests=checked.digests)
        decision = await migrations.decide(
            self.kube, with_secrets, previous, backoff_base=self.settings.migration_backoff
        )
        for event in decision.events:
            self.emit(body, *event)
        desired = dataclasses.replace(with_secrets, serving=decision.serving)
        # A cluster never reconciled before has nothing to prune: skip those requests.
        deployments = await self.children.apply_all(
            desired, restored=self.restored(body), prune=bool(previous.get("observedGeneration"))
        )
        observation = status.Observation(
            generation=generation, paused=False, problems=[], migration=decision.state,
            migration_message=decision.message, serving=decision.serving,
            desired=desired.desired, deployments=deployments,
            endpoints={c: meta.service_url(desired, c) for c in meta.COMPONENTS},
        )  # fmt: skip
        new_status = status.compute_status(observation, previous)
        new_status["migration"] = migration_record(decision.record)
        await self.publish(body, previous, new_status)
        return Outcome(phase=new_status["phase"], requeue_after=decision.requeue_after)

    def restored(self, body: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
        def post(child: dict[str, Any]) -> None:
            message = f"recreated {child['kind']} {child['metadata']['name']}"
            self.emit(body, "Normal", "ChildRestored", message)

        return post

    async def pause(
        self, body: dict[str, Any], previous: dict[str, Any], generation: int
    ) -> Outcome:
        conditions = [c for c in previous.get("conditions", []) if c.get("type") != "Paused"]
        paused = {
            "type": "Paused",
            "status": "True",
            "reason": "PauseAnnotation",
            "message": f"{meta.PAUSED_ANNOTATION} is set: not reconciling",
            "lastTransitionTime": status.now_rfc3339(),
            "observedGeneration": generation,
        }
        old: dict[str, Any] = next(
            (c for c in previous.get("conditions", []) if c.get("type") == "Paused"), {}
        )
        if old.get("status") == "True":
            paused["lastTransitionTime"] = old.get("lastTransitionTime")
        await self.publish(body, previous, {"phase": "Paused", "conditions": [*conditions, paused]})
        return Outcome(phase="Paused")

    async def report_problems(
        self, body: dict[str, Any], previous: dict[str, Any], generation: int, problems: list[str]
    ) -> Outcome:
        observation = status.Observation(
            generation=generation, paused=False, problems=problems, migration="blocked",
            migration_message="waiting for valid references",
            serving=migrations.previous_release(previous),
            desired=inputs.Release(str((body.get("spec") or {}).get("version")), ""),
            deployments={}, endpoints=previous.get("endpoints") or {},
        )  # fmt: skip
        new_status = status.compute_status(observation, previous)
        # Children are left as they are: what runs keeps running while the inputs are fixed.
        new_status["components"] = previous.get("components") or new_status["components"]
        await self.publish(body, previous, new_status)
        uid = body["metadata"]["uid"]
        attempts = self.problem_attempts[uid] = self.problem_attempts.get(uid, 0) + 1
        delay = migrations.backoff_seconds(
            attempts, base=self.settings.problem_backoff, cap=self.settings.problem_backoff_cap
        )
        return Outcome("Degraded", delay, "; ".join(problems))

    async def publish(
        self, body: dict[str, Any], previous: dict[str, Any], new: dict[str, Any]
    ) -> None:
        """Patch status only when it changed; post an Event when the phase or a problem did."""
        if any(
            without_nulls(previous.get(key)) != without_nulls(value) for key, value in new.items()
        ):
            await self.kube.patch_status(
                body["metadata"]["namespace"], body["metadata"]["name"], new
            )
        degraded, before = condition(new, "Degraded"), condition(previous, "Degraded")
        if degraded.get("status") == "True" and degraded.get("message") != before.get("message"):
            self.emit(
                body, "Warning", degraded.get("reason", "Degraded"), degraded.get("message", "")
            )
        if new.get("phase") != previous.get("phase"):
            self.emit(
                body, "Normal", f"Phase{new.get('phase')}", f"phase is now {new.get('phase')}"
            )


def without_nulls(value: Any) -> Any:
    """Status as the API server stores it after a merge patch (nulls mean "remove")."""
    if isinstance(value, dict):
        cleaned = {k: without_nulls(v) for k, v in value.items() if v is not None}
        return cleaned or None
    return value


def condition(status_body: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in status_body.get("conditions", []) if c.get("type") == kind), {})


def migration_record(record: dict[str, Any]) -> dict[str, Any]:
    """All keys present, None for absent ones: a merge patch only removes what it nulls."""
    keys = ("version", "job", "attempts", "lastFailureTime")
    return {key: record.get(key) for key in keys}
