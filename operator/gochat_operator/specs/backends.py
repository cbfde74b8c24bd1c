"""Backends as small objects, each contributing config keys, env, volumes and Secret needs.

A Deployment or the migration Job asks every active backend what it adds for its component
(no `if backend == ...` chains in the builders). `active_backends` is the one place that
decides which backends a spec selects.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gochat_operator.specs import meta
from gochat_operator.specs.model import backends as models

Manifest = dict[str, Any]
MIGRATE = "migrate"  # the migration Job, a pseudo-component for env purposes
JWT_KEYS_DIR = "/etc/gochat/jwt"
NATS_CREDS_DIR = "/etc/gochat/nats"


@dataclasses.dataclass(frozen=True)
class SecretNeed:
    """A Secret a component needs: checked before apply, hashed into the pod template."""

    name: str
    keys: tuple[str, ...]
    purpose: str
    components: frozenset[str]
    # Optional check of one key's value; returns what is wrong with it, or None.
    dsn_scheme: tuple[str, ...] = ()


def secret_env(name: str, *, secret: str, key: str, optional: bool = False) -> Manifest:
    ref: Manifest = {"name": secret, "key": key}
    if optional:
        ref["optional"] = True
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


class Backend:
    """Contributes nothing by default; subclasses override what they add."""

    components: frozenset[str] = frozenset()

    def config(self, component: str) -> dict[str, Any]:
        return {}

    def env(self, component: str) -> list[Manifest]:
        return []

    def volumes(self, component: str) -> list[Manifest]:
        return []

    def mounts(self, component: str) -> list[Manifest]:
        return []

    def secrets(self) -> list[SecretNeed]:
        return []


@dataclasses.dataclass(frozen=True)
class Postgres(Backend):
    spec: models.Postgres
    components = frozenset({*meta.COMPONENTS, MIGRATE})

    def env(self, component: str) -> list[Manifest]:
        # Never in a ConfigMap: the DSN carries the password.
        return [
            secret_env("GOCHAT_PG_DSN", secret=self.spec.dsn_secret.name, key=self.spec.dsn_key)
        ]

    def secrets(self) -> list[SecretNeed]:
        return [
            SecretNeed(
                name=self.spec.dsn_secret.name,
                keys=(self.spec.dsn_key,),
                purpose="PostgreSQL DSN",
                components=self.components,
                dsn_scheme=("postgres://", "postgresql://"),
            )
        ]


@dataclasses.dataclass(frozen=True)
class Nats(Backend):
    spec: models.Nats
    components = frozenset({"api", "ws", "indexer"})

    def config(self, component: str) -> dict[str, Any]:
        result: dict[str, Any] = {
            "nats_url": self.spec.url,
            "nats_stream_replicas": self.spec.event_stream_replicas,
        }
        if self.spec.credentials_secret:
            result["nats_credentials_file"] = f"{NATS_CREDS_DIR}/nats.creds"
        return result

    def volumes(self, component: str) -> list[Manifest]:
        if not self.spec.credentials_secret:
            return []
        secret = {"secretName": self.spec.credentials_secret.name, "defaultMode": 0o440}
        return [{"name": "nats-credentials", "secret": secret}]

    def mounts(self, component: str) -> list[Manifest]:
        if not self.spec.credentials_secret:
            return []
        return [{"name": "nats-credentials", "mountPath": NATS_CREDS_DIR, "readOnly": True}]

    def secrets(self) -> list[SecretNeed]:
        if not self.spec.credentials_secret:
            return []
        name = self.spec.credentials_secret.name
        return [SecretNeed(name, ("nats.creds",), "NATS credentials", self.components)]


@dataclasses.dataclass(frozen=True)
class UsernamePassword(Backend):
    """A backend whose credentials come as username/password env from one Secret."""

    prefix: str
    purpose: str
    secret: str | None
    components: frozenset[str] = frozenset({"api"})

    def env(self, component: str) -> list[Manifest]:
        if not self.secret:
            return []
        return [
            secret_env(f"GOCHAT_{self.prefix}_{key.upper()}", secret=self.secret, key=key)
            for key in ("username", "password")
        ]

    def secrets(self) -> list[SecretNeed]:
        if not self.secret:
            return []
        return [SecretNeed(self.secret, ("username", "password"), self.purpose, self.components)]


@dataclasses.dataclass(frozen=True)
class StaticConfig(Backend):
    """A backend that only sets config keys (e.g. `message_store: postgres`)."""

    keys: tuple[tuple[str, Any], ...]
    components: frozenset[str] = frozenset({"api"})

    def config(self, component: str) -> dict[str, Any]:
        return dict(self.keys)


# The API stores messages in Cassandra; `gochat migrate` creates its keyspace and tables.
CASSANDRA_COMPONENTS = frozenset({"api", MIGRATE})
DEFAULT_REPLICATION_FACTOR = 3


def cassandra(spec: models.Cassandra) -> list[Backend]:
    keys = (
        ("message_store", "cassandra"),
        ("cassandra_hosts", list(spec.hosts)),
        ("cassandra_keyspace", spec.keyspace),
        ("cassandra_local_dc", spec.local_dc),
    )
    replication = spec.replication or f"{spec.local_dc}:{DEFAULT_REPLICATION_FACTOR}"
    secret = spec.credentials_secret.name if spec.credentials_secret else None
    return [
        StaticConfig(keys, components=CASSANDRA_COMPONENTS),
        StaticConfig((("cassandra_replication", replication),), components=frozenset({MIGRATE})),
        UsernamePassword(
            "CASSANDRA", "Cassandra credentials", secret, components=CASSANDRA_COMPONENTS
        ),
    ]


# The API searches the index, the indexer writes it and `gochat migrate` creates it (template,
# first index, aliases): all three need the same search settings.
SEARCH_COMPONENTS = frozenset({"api", "indexer", MIGRATE})


def opensearch(spec: models.OpenSearch) -> list[Backend]:
    keys = (("search_backend", "opensearch"), ("opensearch_url", spec.url))
    secret = spec.credentials_secret.name if spec.credentials_secret else None
    purpose = "OpenSearch credentials"
    return [
        StaticConfig(keys, components=SEARCH_COMPONENTS),
        UsernamePassword("OPENSEARCH", purpose, secret, components=SEARCH_COMPONENTS),
    ]


def postgres_search() -> list[Backend]:
    return [StaticConfig((("search_backend", "postgres"),), components=SEARCH_COMPONENTS)]


@dataclasses.dataclass(frozen=True)
class S3(Backend):
    spec: models.S3
    components = frozenset({"api"})

    def config(self, component: str) -> dict[str, Any]:
        keys = {
            "blob_store": "s3",
            "s3_endpoint": self.spec.endpoint,
            "s3_bucket": self.spec.bucket,
            "s3_region": self.spec.region,
        }
        if self.spec.public_endpoint:
            keys["s3_public_endpoint"] = self.spec.public_endpoint
        return keys

    def env(self, component: str) -> list[Manifest]:
        secret = self.spec.credentials_secret.name
        return [
            secret_env("GOCHAT_S3_ACCESS_KEY_ID", secret=secret, key="accessKeyId"),
            secret_env("GOCHAT_S3_SECRET_ACCESS_KEY", secret=secret, key="secretAccessKey"),
        ]

    def secrets(self) -> list[SecretNeed]:
        keys = ("accessKeyId", "secretAccessKey")
        return [
            SecretNeed(self.spec.credentials_secret.name, keys, "S3 credentials", self.components)
        ]
