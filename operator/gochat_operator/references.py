"""Referenced Secrets: check they exist and are well-formed, digest them, make the JWT one.

A missing or malformed Secret is reported as a problem naming it (the cluster turns
Degraded and the reconcile retries with backoff); it is never an exception that would
crash the operator.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import time

from gochat_operator import jwt_keys, kube
from gochat_operator.specs import auth_backends, backends, inputs, secrets


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
    a fix is seen at the next retry; a rotation is seen within `ttl` seconds."""

    def __init__(self, *, ttl: float) -> None:
        self.ttl = ttl
        self.entries: dict[tuple[str, str], tuple[float, kube.Manifest]] = {}

    def get(self, namespace: str, name: str) -> kube.Manifest | None:
        entry = self.entries.get((namespace, name))
        if entry is None or time.monotonic() - entry[0] > self.ttl:
            return None
        return entry[1]

    def put(self, namespace: str, name: str, secret: kube.Manifest) -> None:
        if self.ttl > 0:
            self.entries[(namespace, name)] = (time.monotonic(), {"data": secret.get("data")})


async def check(k: kube.Kube, cluster: inputs.ClusterInput, *, cache: SecretCache) -> Checked:
    result = Checked()
    jwt_name = cluster.jwt_secret_name
    for need in auth_backends.secret_needs(cluster):
        secret = cache.get(cluster.namespace, need.name) or await k.get(
            "v1", "Secret", cluster.namespace, need.name
        )
        if secret is None and need.name == jwt_name:
            secret = await ensure_jwt_secret(k, cluster)
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
                cache.put(cluster.namespace, need.name, secret)
    return result
