"""Referenced Secrets: check they exist and are well-formed, digest them, make the JWT one;
name them for the watch that reconciles a cluster when one of its Secrets changes.

A missing or malformed Secret is reported as a problem naming it (the cluster turns
Degraded and the reconcile retries with backoff); it is never an exception that would
crash the operator.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import hashlib
import json
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pydantic

from gochat_operator import jwt_keys, kube
from gochat_operator.specs import auth_backends, backends, inputs, secrets
from gochat_operator.specs.model import cluster as cluster_model


@dataclasses.dataclass
class Checked:
    problems: list[str] = dataclasses.field(default_factory=list)
    digests: dict[str, str] = dataclasses.field(default_factory=dict)
    generated_jwt_secret: str | None = None


def digest(data: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def value_problem(need: backends.SecretNeed, key: str, encoded: str) -> str | None:
    try:
        value = base64.b64decode(encoded).decode().strip()
    except (binascii.Error, UnicodeDecodeError):
        return f"Secret {need.name!r} key {key!r} is not valid text"
    if not value:
        return f"Secret {need.name!r} key {key!r} is empty"
    if need.dsn_scheme and not value.startswith(need.dsn_scheme):
        schemes = " or ".join(need.dsn_scheme)
        return f"Secret {need.name!r} key {key!r} is not a DSN (expected {schemes})"
    return None


def need_problems(need: backends.SecretNeed, secret: kube.Manifest | None) -> list[str]:
    if secret is None:
        return [f"Secret {need.name!r} ({need.purpose}) not found"]
    data = secret.get("data") or {}
    found = []
    for key in need.keys:
        if key not in data:
            found.append(f"Secret {need.name!r} ({need.purpose}) has no key {key!r}")
        elif problem := value_problem(need, key, data[key]):
            found.append(problem)
    return found


async def ensure_jwt_secret(k: kube.Kube, cluster: inputs.ClusterInput) -> kube.Manifest | None:
    """Create the JWT Secret; the created object, or None if it existed already. Never
    overwrites: a concurrent creator (or an operator restart) makes `create` return None."""
    kid, pem = jwt_keys.generate()
    return await k.create(secrets.render_jwt_secret(cluster, kid=kid, pem=pem))


class SecretCache:
    """Valid Secrets remembered for a short while: every wake-up of every cluster would
    otherwise re-read the same Secrets. Invalid or missing ones are always read afresh, so
    a fix is seen at the next retry. A watch event for a Secret (`changed`) drops its entry
    at once, so a rotation is seen by the reconcile that event triggers, not after `ttl`."""

    def __init__(self, *, ttl: float) -> None:
        self.ttl = ttl
        self.entries: dict[tuple[str, str], tuple[float, kube.Manifest]] = {}
        # Bumped by each watch event: a read that started before the event may hold the old
        # data and must not be cached over it.
        self.epochs: dict[tuple[str, str], int] = {}
        # (namespace, name, resourceVersion) of Secrets we created: their ADDED event is our
        # own write coming back, not news.
        self.own_writes: set[tuple[str, str, str]] = set()
        # Secrets being created right now: the watch may deliver their ADDED event before the
        # create call returns the resourceVersion, and that echo is no news either.
        self.creating: set[tuple[str, str]] = set()
        self.early_echoes: set[tuple[str, str, str]] = set()

    @contextlib.contextmanager
    def creating_secret(self, namespace: str, name: str) -> Iterator[None]:
        self.creating.add((namespace, name))
        try:
            yield
        finally:
            self.creating.discard((namespace, name))

    def epoch(self, namespace: str, name: str) -> int:
        return self.epochs.get((namespace, name), 0)

    def get(self, namespace: str, name: str) -> kube.Manifest | None:
        entry = self.entries.get((namespace, name))
        if entry is None or time.monotonic() - entry[0] > self.ttl:
            return None
        return entry[1]

    def put(self, namespace: str, name: str, secret: kube.Manifest, *, epoch: int) -> None:
        """Remember `secret`, read when `epoch(namespace, name)` was `epoch`."""
        if self.ttl > 0 and self.epoch(namespace, name) == epoch:
            self.entries[(namespace, name)] = (time.monotonic(), {"data": secret.get("data")})

    def created(self, namespace: str, name: str, secret: kube.Manifest) -> None:
        version = secret.get("metadata", {}).get("resourceVersion")
        if version:
            key = (namespace, name, version)
            if key in self.early_echoes:  # its ADDED event already came and was recognised
                self.early_echoes.discard(key)
            else:
                self.own_writes.add(key)

    def changed(
        self, namespace: str, name: str, resource_version: str, *, added: bool = False
    ) -> bool:
        """A watch event for a Secret: forget what we know of it. False if the event is only
        the echo of our own create (nothing to reconcile), also when it overtakes the create
        call's own response."""
        key = (namespace, name, resource_version)
        if key in self.own_writes:
            self.own_writes.discard(key)
            return False
        if added and (namespace, name) in self.creating:
            self.early_echoes.add(key)
            return False
        self.entries.pop((namespace, name), None)
        self.epochs[(namespace, name)] = self.epoch(namespace, name) + 1
        return True


async def check(k: kube.Kube, cluster: inputs.ClusterInput, *, cache: SecretCache) -> Checked:
    result = Checked()
    jwt_name = cluster.jwt_secret_name
    for need in auth_backends.secret_needs(cluster):
        epoch = cache.epoch(cluster.namespace, need.name)
        secret = cache.get(cluster.namespace, need.name) or await k.get(
            "v1", "Secret", cluster.namespace, need.name
        )
        if secret is None and need.name == jwt_name:
            with cache.creating_secret(cluster.namespace, jwt_name):
                secret = await ensure_jwt_secret(k, cluster)
                if secret is not None:
                    cache.created(cluster.namespace, jwt_name, secret)
            if secret is not None:
                result.generated_jwt_secret = jwt_name
            else:
                secret = await k.get("v1", "Secret", cluster.namespace, need.name)
        problems = need_problems(need, secret)
        if secret is not None and need.name == jwt_name:
            problems += [
                f"Secret {jwt_name!r} (JWT signing keys) {p}"
                for p in jwt_keys.problems(secret.get("data") or {})
            ]
        result.problems.extend(problems)
        if secret is not None:
            result.digests[need.name] = digest(secret.get("data") or {})
            if not problems:
                cache.put(cluster.namespace, need.name, secret, epoch=epoch)
    return result


def referenced_names(*, namespace: str, name: str, spec: Mapping[str, Any]) -> set[str]:
    """The Secrets a GoChatCluster's reconcile reads and hashes into its pods, so a change to
    any of them must reconcile it. Empty for a spec that does not validate (it reconciles to
    Degraded whatever the Secrets hold)."""
    try:
        parsed = cluster_model.GoChatClusterSpec.model_validate(dict(spec))
    except pydantic.ValidationError:
        return set()
    probe = inputs.ClusterInput(name=name, namespace=namespace, uid="", spec=parsed, serving=None)
    return {need.name for need in auth_backends.secret_needs(probe)}
