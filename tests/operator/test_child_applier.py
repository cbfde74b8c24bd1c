"""When the operator re-applies a child, and when it trusts its memory (no cluster needed)."""

from __future__ import annotations

from typing import Any

from gochat_operator import children

NS = "ns"


class RecordingKube:
    """Stands in for `kube.Kube`: answers apply like the API server (a new resourceVersion)."""

    def __init__(self) -> None:
        self.applied: list[str] = []
        self.version = 0

    async def apply(
        self, manifest: dict[str, Any], *, manager: str = "", bulk: bool = False
    ) -> dict[str, Any]:
        self.applied.append(manifest["metadata"]["name"])
        self.version += 1
        metadata = {**manifest["metadata"], "resourceVersion": str(self.version), "uid": "u1"}
        metadata["generation"] = 1
        return {**manifest, "metadata": metadata, "status": {"readyReplicas": 0}}

    async def get(self, *args: str) -> None:
        return None


def deployment(name: str = "chat-api", replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"replicas": replicas},
    }


def event(body: dict[str, Any], *, version: str, generation: int, ready: int) -> dict[str, Any]:
    metadata = {**body["metadata"], "resourceVersion": version, "generation": generation}
    return {**body, "metadata": metadata, "status": {"readyReplicas": ready}}


async def test_unchanged_child_is_not_applied_twice() -> None:
    kube = RecordingKube()
    applier = children.ChildApplier(kube)  # type: ignore[arg-type]
    await applier.apply(deployment(), restored=lambda _: None)
    await applier.apply(deployment(), restored=lambda _: None)
    assert kube.applied == ["chat-api"]
    await applier.apply(deployment(replicas=3), restored=lambda _: None)
    assert kube.applied == ["chat-api", "chat-api"]


async def test_status_only_event_updates_the_remembered_deployment() -> None:
    kube = RecordingKube()
    applier = children.ChildApplier(kube)  # type: ignore[arg-type]
    first = await applier.apply(deployment(), restored=lambda _: None)
    applier.observed(NS, event(first, version="99", generation=1, ready=2), deleted=False)
    seen = await applier.apply(deployment(), restored=lambda _: None)
    assert kube.applied == ["chat-api"]
    assert seen["status"]["readyReplicas"] == 2


async def test_spec_edit_or_deletion_by_someone_else_forces_a_new_apply() -> None:
    kube = RecordingKube()
    applier = children.ChildApplier(kube)  # type: ignore[arg-type]
    first = await applier.apply(deployment(), restored=lambda _: None)
    applier.observed(NS, event(first, version="99", generation=2, ready=2), deleted=False)
    second = await applier.apply(deployment(), restored=lambda _: None)
    applier.observed(NS, event(second, version="100", generation=1, ready=0), deleted=True)
    await applier.apply(deployment(), restored=lambda _: None)
    assert kube.applied == ["chat-api"] * 3


async def test_our_own_write_echoed_by_the_watch_keeps_the_memory() -> None:
    kube = RecordingKube()
    applier = children.ChildApplier(kube)  # type: ignore[arg-type]
    first = await applier.apply(deployment(), restored=lambda _: None)
    applier.observed(NS, first, deleted=False)
    await applier.apply(deployment(), restored=lambda _: None)
    assert kube.applied == ["chat-api"]
