"""kopf wiring that reconciles a GoChatCluster as soon as a Secret it references changes.

An index of GoChatClusters maps each referenced Secret, by (namespace, name), to the clusters
that use it: names only, never Secret data. Secrets are watched in the namespaces the operator
serves (kopf scopes every watch to them); an event of a Secret no cluster references stops at
the filter. Created, updated or deleted, a referenced Secret requeues its clusters, which
drops the cached copy, re-reads and re-hashes it: a rotation rolls the pods, a deleted one
turns the cluster Degraded, a recreated one makes it Ready without waiting for the backoff.
Helm release and ServiceAccount token Secrets are filtered out by the API server: they are
the bulk of most namespaces' Secrets and never hold what a GoChatCluster references.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from gochat_operator import references
from gochat_operator.specs.model import base

SecretKey = tuple[str, str]  # (namespace, Secret name)
IGNORED_TYPES = ("helm.sh/release.v1", "kubernetes.io/service-account-token")
logger = logging.getLogger(__name__)


@kopf.on.startup()
async def watch_only_relevant_secret_types(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.watching.field_selectors["v1", "secrets"] = ",".join(
        f"type!={secret_type}" for secret_type in IGNORED_TYPES
    )


@kopf.index(base.GROUP, base.VERSION, base.PLURAL)
async def secret_references(
    *, namespace: str | None, name: str, spec: kopf.Spec, **_: Any
) -> dict[SecretKey, str]:
    """(namespace, Secret name) -> the names of the clusters referencing that Secret."""
    assert namespace is not None  # GoChatCluster is namespaced
    names = references.referenced_names(namespace=namespace, name=name, spec=spec)
    return {(namespace, secret): name for secret in names}


def clusters_referencing(
    namespace: str | None, name: str, handler_kwargs: dict[str, Any]
) -> list[str]:
    # kopf passes indices as keyword arguments named after the index function.
    index: kopf.Index[SecretKey, str] = handler_kwargs["secret_references"]
    return list(index.get((namespace or "", name), []))


def is_referenced(*, namespace: str | None, name: str, **kwargs: Any) -> bool:
    return bool(clusters_referencing(namespace, name, kwargs))


@kopf.on.event("v1", "secrets", when=is_referenced)
async def secret_changed(
    *, type: str, namespace: str | None, name: str, body: kopf.Body, memo: Any, **kwargs: Any
) -> None:
    # The initial listing (type None) is covered by the clusters' resume handlers.
    if not type or namespace is None:
        return
    version = str(body.metadata.get("resourceVersion", ""))
    if not memo.reconciler.secrets.changed(namespace, name, version, added=type == "ADDED"):
        return  # our own write (the JWT Secret we just created) coming back
    clusters = clusters_referencing(namespace, name, kwargs)
    logger.info("Secret %s/%s %s: reconciling %s", namespace, name, type.lower(), clusters)
    for cluster in clusters:
        memo.queue.request((namespace, cluster))
