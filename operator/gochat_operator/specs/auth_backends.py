"""Backends of the auth side (signing keys, JWKS, mail) and the choice of active backends."""

from __future__ import annotations

import dataclasses
from typing import Any

from gochat_operator.specs import backends, inputs, meta
from gochat_operator.specs.model import backends as models

Manifest = dict[str, Any]

# Secret key -> (env var, optional) per mail provider. Providers absent here (outbox) need
# no Secret at all.
MAIL_SECRET_ENV: dict[str, dict[str, tuple[str, bool]]] = {
    "smtp": {
        "host": ("GOCHAT_SMTP_HOST", False),
        "port": ("GOCHAT_SMTP_PORT", False),
        "username": ("GOCHAT_SMTP_USERNAME", True),
        "password": ("GOCHAT_SMTP_PASSWORD", True),
    },
    "sendpulse": {
        "clientId": ("GOCHAT_SENDPULSE_CLIENT_ID", False),
        "clientSecret": ("GOCHAT_SENDPULSE_CLIENT_SECRET", False),
    },
}


@dataclasses.dataclass(frozen=True)
class JwtKeys(backends.Backend):
    """auth signs with the keys of the JWT Secret, mounted as a directory of `<kid>.pem`."""

    secret: str
    public_url: str
    components = frozenset({"auth"})

    def config(self, component: str) -> dict[str, Any]:
        result: dict[str, Any] = {"jwt_keys_dir": backends.JWT_KEYS_DIR}
        if self.public_url:
            result["public_url"] = self.public_url
        return result

    def volumes(self, component: str) -> list[Manifest]:
        return [{"name": "jwt-keys", "secret": {"secretName": self.secret, "defaultMode": 0o440}}]

    def mounts(self, component: str) -> list[Manifest]:
        return [{"name": "jwt-keys", "mountPath": backends.JWT_KEYS_DIR, "readOnly": True}]

    def secrets(self) -> list[backends.SecretNeed]:
        # Keys are `<kid>.pem`, unknown in advance: the JWT checks live in jwt_keys.
        return [backends.SecretNeed(self.secret, (), "JWT signing keys", self.components)]


@dataclasses.dataclass(frozen=True)
class Jwks(backends.Backend):
    """api and ws verify tokens against auth's JWKS."""

    url: str
    components = frozenset({"api", "ws"})

    def config(self, component: str) -> dict[str, Any]:
        return {"jwks_url": self.url}


@dataclasses.dataclass(frozen=True)
class Mailer(backends.Backend):
    spec: models.Mail
    components = frozenset({"auth"})

    def config(self, component: str) -> dict[str, Any]:
        return {"mailer": self.spec.provider}

    def env(self, component: str) -> list[Manifest]:
        if not self.spec.secret:
            return []
        return [
            backends.secret_env(env, secret=self.spec.secret.name, key=key, optional=optional)
            for key, (env, optional) in MAIL_SECRET_ENV.get(self.spec.provider, {}).items()
        ]

    def secrets(self) -> list[backends.SecretNeed]:
        env = MAIL_SECRET_ENV.get(self.spec.provider, {})
        if not self.spec.secret or not env:
            return []
        required = tuple(key for key, (_, optional) in env.items() if not optional)
        name = self.spec.secret.name
        purpose = f"{self.spec.provider} mail settings"
        return [backends.SecretNeed(name, required, purpose, self.components)]


def active_backends(cluster: inputs.ClusterInput) -> list[backends.Backend]:
    """The backends a spec selects; optional stores fall back to PostgreSQL / local disk."""
    spec = cluster.spec
    message_store = (
        backends.cassandra(spec.cassandra)
        if spec.cassandra
        else [backends.StaticConfig((("message_store", "postgres"),))]
    )
    search = backends.opensearch(spec.opensearch) if spec.opensearch else backends.postgres_search()
    blobs: list[backends.Backend] = (
        [backends.S3(spec.s3)] if spec.s3 else [backends.StaticConfig((("blob_store", "localfs"),))]
    )
    jwks_url = f"{meta.service_url(cluster, 'auth')}/.well-known/jwks.json"
    # The API links notification mails to the same public address auth puts in its mails.
    links: list[backends.Backend] = (
        [backends.StaticConfig((("public_url", spec.auth.public_url),))]
        if spec.auth.public_url
        else []
    )
    return [
        backends.Postgres(spec.postgres),
        backends.Nats(spec.nats),
        *message_store,
        *search,
        *blobs,
        JwtKeys(secret=cluster.jwt_secret_name, public_url=spec.auth.public_url),
        *links,
        Jwks(url=jwks_url),
        Mailer(spec.mail),
    ]


def for_component(cluster: inputs.ClusterInput, component: str) -> list[backends.Backend]:
    return [b for b in active_backends(cluster) if component in b.components]


def secret_needs(cluster: inputs.ClusterInput) -> list[backends.SecretNeed]:
    """Every Secret the cluster references, for validation and hashing."""
    return [need for backend in active_backends(cluster) for need in backend.secrets()]
