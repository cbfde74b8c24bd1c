"""kopf handlers: wire events to `Reconciler.reconcile`, nothing else.

- create/update/resume of a GoChatCluster reconcile it now; kopf retries API errors, and
  waiting (migration running or failed, a Secret missing) is requeued with its backoff;
- events of children (server-side filtered on managed-by=gochat-operator) requeue their
  owner, so a child edited or deleted by hand is put back within a second;
- events of referenced Secrets requeue the clusters referencing them (`secret_watch`);
- a jittered resync requeues every cluster every few minutes (safety net).
No timers or daemons: those would add a finalizer, which blocks deleting a GoChatCluster
whenever the operator is down.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
from typing import Any, cast

import kopf
from kubernetes import config as kube_config

from gochat_operator import kube, migrations, reconcile, workqueue
from gochat_operator.specs import meta
from gochat_operator.specs.model import base

CHILD_KINDS = [
    ("", "v1", "configmaps"),
    ("", "v1", "services"),
    ("apps", "v1", "deployments"),
    ("batch", "v1", "jobs"),
    ("autoscaling", "v2", "horizontalpodautoscalers"),
    ("policy", "v1", "poddisruptionbudgets"),
    ("networking.k8s.io", "v1", "networkpolicies"),
    ("networking.k8s.io", "v1", "ingresses"),
]
MANAGED = f"app.kubernetes.io/managed-by={meta.MANAGER}"
KNOWN: set[workqueue.Key] = set()


def env_seconds(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def post_event(body: dict[str, Any], type_: str, reason: str, message: str) -> None:
    kopf.event(cast(kopf.Body, body), type=type_, reason=reason, message=message[:1000])


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    prefix = "operator.gochat.dev"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=prefix)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=prefix)
    settings.posting.level = logging.WARNING  # our own Events say what happened
    settings.posting.reporting_component = meta.MANAGER
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    for group, version, plural in CHILD_KINDS:
        settings.watching.label_selectors[group or version, plural] = MANAGED
    try:
        kube_config.load_incluster_config()
    except kube_config.ConfigException:
        kube_config.load_kube_config()
    settings_ = reconcile.Settings(
        migration_backoff=env_seconds("GOCHAT_OPERATOR_MIGRATION_BACKOFF", 30),
        problem_backoff=env_seconds("GOCHAT_OPERATOR_PROBLEM_BACKOFF", 30),
        problem_backoff_cap=env_seconds("GOCHAT_OPERATOR_PROBLEM_BACKOFF_CAP", 600),
        secret_cache_ttl=env_seconds("GOCHAT_OPERATOR_SECRET_CACHE_SECONDS", 30),
    )
    memo.reconciler = reconcile.Reconciler(kube.Kube(), emit=post_event, settings=settings_)
    memo.queue = workqueue.Workqueue(requeue_work(memo))
    interval = env_seconds("GOCHAT_OPERATOR_RESYNC_SECONDS", 600)
    memo.resync = asyncio.create_task(
        memo.queue.resync_forever(lambda: sorted(KNOWN), interval=interval)
    )


def requeue_work(memo: kopf.Memo) -> Any:
    async def work(namespace: str, name: str) -> float | None:
        outcome = await memo.reconciler.reconcile(namespace, name)
        return outcome.requeue_after

    return work


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    memo.resync.cancel()
    await memo.queue.close()


@kopf.on.resume(base.GROUP, base.VERSION, base.PLURAL)
@kopf.on.create(base.GROUP, base.VERSION, base.PLURAL)
@kopf.on.update(base.GROUP, base.VERSION, base.PLURAL)
async def reconcile_cluster(*, namespace: str | None, name: str, memo: Any, **_: Any) -> None:
    assert namespace is not None  # GoChatCluster is namespaced
    KNOWN.add((namespace, name))
    try:
        outcome = await memo.reconciler.reconcile(namespace, name)
    except kube.ApiError as error:
        # Conflicts, throttling, an API server restart: transient by nature, retry soon.
        raise kopf.TemporaryError(str(error), delay=5) from error
    if outcome.requeue_after is not None:
        # Waiting (a running migration, a failed one's backoff, a missing Secret) goes to the
        # requeue rather than kopf's retry: a retrying handler would hold back the next spec
        # change until its delay is over. The backoff state itself lives in status.
        memo.queue.request((namespace, name), delay=outcome.requeue_after)


@kopf.on.event(base.GROUP, base.VERSION, base.PLURAL)
async def track_clusters(
    *, type: str, namespace: str | None, name: str, memo: Any, **_: Any
) -> None:
    assert namespace is not None
    if type == "DELETED":
        KNOWN.discard((namespace, name))
        memo.reconciler.forget(namespace, name)
    else:
        KNOWN.add((namespace, name))


def owner_key(namespace: str, owner_refs: list[dict[str, Any]]) -> workqueue.Key | None:
    for ref in owner_refs:
        if ref.get("kind") == base.KIND and ref.get("apiVersion", "").startswith(base.GROUP):
            return (namespace, ref["name"])
    return None


async def on_child_event(
    *, type: str, namespace: str | None, body: kopf.Body, memo: Any, **_: Any
) -> None:
    # The initial listing (type None) is covered by the resume handlers.
    if not type or namespace is None:
        return
    key = owner_key(namespace, body.metadata.get("ownerReferences") or [])
    if key is not None:
        # A copy: kopf's body is a live view, and the applier keeps Deployments' last state.
        child = copy.deepcopy(dict(body))
        if child["kind"] == "Job":
            # Only a finished (or vanished) migration changes what the cluster should do.
            wanted = type == "DELETED" or migrations.job_outcome(child)[0] != "running"
        else:
            wanted = memo.reconciler.children.observed(namespace, child, deleted=type == "DELETED")
        if not wanted:
            return
        memo.queue.request(key)


for _group, _version, _plural in CHILD_KINDS:
    kopf.on.event(f"{_group}/{_version}" if _group else _version, _plural)(on_child_event)
