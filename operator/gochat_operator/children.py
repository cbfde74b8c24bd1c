"""Applying a cluster's children, with just enough memory to stay quiet at scale.

Server-side apply of an unchanged manifest is a no-op for the API server but still a request;
with hundreds of clusters, re-sending ~20 unchanged children on every wake-up is most of the
operator's traffic. So a child is re-applied only when its manifest changed or the object
changed since our last apply (a watch event with another resourceVersion: someone edited or
deleted it). Deployments are the exception that proves it: their status changes all the
time, so for them only a new `generation` (a spec edit) counts as a change, and the body of
the latest watch event stands in for the apply response status is computed from.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from collections.abc import Callable
from typing import Any

from gochat_operator import kube
from gochat_operator.specs import bundle, inputs, meta

Manifest = dict[str, Any]
ChildKey = tuple[str, str, str]  # (kind, namespace, name)


def manifest_digest(manifest: Manifest) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def owns_replicas(live: Manifest) -> bool:
    for entry in live["metadata"].get("managedFields", []):
        if entry.get("manager") == meta.MANAGER and entry.get("operation") == "Apply":
            return "f:replicas" in entry.get("fieldsV1", {}).get("f:spec", {})
    return False


@dataclasses.dataclass
class Applied:
    """What we last applied and what the API server has since told us about it."""

    digest: str
    resource_version: str
    generation: int
    body: Manifest | None  # kept for Deployments only (status), without managedFields


def kept_body(body: Manifest) -> Manifest | None:
    """What to remember of an object: memory grows with clusters x children, so only a
    Deployment's body (for status), minus its bulky managedFields."""
    if body.get("kind") != "Deployment":
        return None
    metadata = {k: v for k, v in body["metadata"].items() if k != "managedFields"}
    return {**body, "metadata": metadata}


def status_counts(body: Manifest | None) -> tuple[Any, ...]:
    """The fields of a Deployment that GoChatCluster status depends on."""
    if body is None:
        return ()
    status = body.get("status", {})
    keys = ("observedGeneration", "replicas", "readyReplicas", "updatedReplicas")
    return (body["spec"].get("replicas"), *(status.get(key) for key in keys))


class ChildApplier:
    def __init__(self, k: kube.Kube) -> None:
        self.kube = k
        self.applied: dict[ChildKey, Applied] = {}
        self.absent: set[ChildKey] = set()  # pruned children known not to exist
        self.uids: dict[ChildKey, str] = {}

    def observed(self, namespace: str, body: Manifest, *, deleted: bool) -> bool:
        """A watch event for a child; True if the cluster needs a reconcile for it.

        Echoes of our own writes need none; a Deployment whose spec is unchanged needs one
        only when the replica counts status is computed from moved."""
        metadata = body["metadata"]
        key = (body["kind"], namespace, metadata["name"])
        self.absent.discard(key)
        cached = self.applied.get(key)
        if cached is None:
            return True
        if cached.resource_version == metadata.get("resourceVersion") and not deleted:
            return False
        same_spec = cached.generation == metadata.get("generation", 0)
        if not deleted and body["kind"] == "Deployment" and same_spec:
            before = status_counts(cached.body)
            cached.resource_version = metadata.get("resourceVersion", "")
            cached.body = kept_body(body)
            return status_counts(cached.body) != before
        del self.applied[key]
        return True

    def forget_namespace_cluster(self, namespace: str, cluster: str) -> None:
        prefix = f"{cluster}-"
        for store in (self.applied, self.uids):
            for key in [
                k
                for k in store
                if k[1] == namespace and (k[2] == cluster or k[2].startswith(prefix))
            ]:
                del store[key]

    async def apply(self, manifest: Manifest, *, restored: Callable[[Manifest], None]) -> Manifest:
        """Apply unless unchanged since our last apply; the object as last seen."""
        metadata = manifest["metadata"]
        key = (manifest["kind"], metadata["namespace"], metadata["name"])
        digest = manifest_digest(manifest)
        cached = self.applied.get(key)
        if cached and cached.digest == digest:
            return cached.body or manifest
        if manifest["kind"] == "Deployment" and "replicas" not in manifest["spec"]:
            await self.hand_replicas_to_hpa(manifest)
        # Deployments (and their HPAs) move a rollout on; everything else is bulk.
        bulk = manifest["kind"] not in ("Deployment", "HorizontalPodAutoscaler")
        result = await self.kube.apply(manifest, bulk=bulk)
        result_meta = result["metadata"]
        self.applied[key] = Applied(
            digest,
            result_meta["resourceVersion"],
            result_meta.get("generation", 0),
            kept_body(result),
        )
        seen, self.uids[key] = self.uids.get(key), result_meta["uid"]
        if seen and seen != result_meta["uid"]:
            restored(result)
        return result

    async def prune(self, ref: bundle.ChildRef, namespace: str) -> None:
        key = (ref.kind, namespace, ref.name)
        if key in self.absent:
            return
        await self.kube.delete(ref.api_version, ref.kind, namespace, ref.name, bulk=True)
        self.applied.pop(key, None)
        self.absent.add(key)

    async def hand_replicas_to_hpa(self, manifest: Manifest) -> None:
        """Before we stop sending `replicas`, make sure we are not its only owner: server-side
        apply would otherwise remove the field and the Deployment would drop to 1 replica."""
        metadata = manifest["metadata"]
        live = await self.kube.get("apps/v1", "Deployment", metadata["namespace"], metadata["name"])
        if live is None or not owns_replicas(live):
            return
        handover = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": metadata["name"], "namespace": metadata["namespace"]},
            "spec": {"replicas": live["spec"].get("replicas", 1)},
        }
        await self.kube.apply(handover, manager=f"{meta.MANAGER}-hpa-handover")

    async def apply_all(
        self,
        cluster_input: inputs.ClusterInput,
        *,
        restored: Callable[[Manifest], None],
        prune: bool = True,
    ) -> dict[str, Manifest]:
        """Apply every desired child, prune unwanted ones; Deployments as returned, by component."""
        children = bundle.render_children(cluster_input)
        # Independent objects: sent together, so one cluster's latency is a few round trips.
        await asyncio.gather(
            *(self.apply(manifest, restored=restored) for manifest in children.base),
            *(self.prune(ref, cluster_input.namespace) for ref in children.prune if prune),
        )
        workloads = await asyncio.gather(
            *(self.apply(manifest, restored=restored) for manifest in children.workloads)
        )
        return {
            applied["metadata"]["labels"]["app.kubernetes.io/component"]: applied
            for applied in workloads
            if applied["kind"] == "Deployment"
        }
