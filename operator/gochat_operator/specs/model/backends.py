"""Backends a GoChatCluster uses, all by reference: URLs in the spec, credentials in Secrets.

Which optional backend is active follows from presence: a `cassandra` block makes Cassandra
the message store, `opensearch` the search backend, `s3` the blob store; without them the
PostgreSQL/local defaults apply.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gochat_operator.specs.model import base


class Postgres(base.SpecModel):
    """PostgreSQL, the system of record (and default message store and search)."""

    dsn_secret: base.SecretRef = Field(
        description="Secret holding the DSN (postgresql://...); passed as GOCHAT_PG_DSN."
    )
    dsn_key: str = Field(default="dsn", min_length=1, description="Key of the DSN in the Secret.")


class Nats(base.SpecModel):
    """NATS JetStream, the event bus between api, ws and indexer (deployed by you, not by the
    operator: `servers` tells it how many JetStream servers the cluster behind `url` has)."""

    cel_rules = (
        base.Rule(
            rule="!has(self.streamReplicas) || self.streamReplicas <= self.servers",
            message="nats.streamReplicas cannot exceed nats.servers",
        ),
    )
    url: str = Field(
        min_length=1, pattern=r"^(nats|tls)://", description="NATS URL (nats://host:4222)."
    )
    credentials_secret: base.SecretRef | None = Field(
        default=None, description="Secret with a `nats.creds` key, mounted as a credentials file."
    )
    servers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="JetStream servers in the NATS cluster behind `url`. With 3 or more the "
        "event stream keeps 3 replicas by default, so an acknowledged event survives the loss "
        "of a server; with fewer, 1 (see docs/operator.md, Stream durability).",
    )
    stream_replicas: int | None = Field(
        default=None,
        ge=1,
        le=5,
        description="Replicas of the event stream (GOCHAT_NATS_STREAM_REPLICAS of api, ws and "
        "indexer), at most `servers`; unset: 3 when `servers` >= 3, else 1. A change rescales "
        "the existing stream when the services restart with it.",
    )

    @property
    def event_stream_replicas(self) -> int:
        """The replicas the services are given: the spec's, or the default for `servers`."""
        if self.stream_replicas is not None:
            return self.stream_replicas
        return 3 if self.servers >= 3 else 1


class Cassandra(base.SpecModel):
    """Cassandra or ScyllaDB as the message store."""

    hosts: list[str] = Field(min_length=1, description="Contact points (host or host:port).")
    keyspace: str = Field(
        default="gochat",
        pattern=r"^[a-z][a-z0-9_]{0,47}$",
        description="Keyspace; immutable once set (moving data is not the operator's job).",
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "cassandra.keyspace is immutable"}
            ]
        },
    )
    local_dc: str = Field(
        default="datacenter1",
        alias="localDC",
        min_length=1,
        description="Local datacenter for the load-balancing policy.",
    )
    replication: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.-]+:[1-9][0-9]?(,[A-Za-z0-9_.-]+:[1-9][0-9]?)*$",
        description="NetworkTopologyStrategy replication the migration creates the keyspace "
        "with, `dc:factor` pairs separated by commas; default `<localDC>:3`.",
    )
    credentials_secret: base.SecretRef | None = Field(
        default=None, description="Secret with `username` and `password` keys."
    )


class OpenSearch(base.SpecModel):
    """OpenSearch as the search backend."""

    url: str = Field(min_length=1, pattern=r"^https?://", description="OpenSearch base URL.")
    credentials_secret: base.SecretRef | None = Field(
        default=None, description="Secret with `username` and `password` keys."
    )


class S3(base.SpecModel):
    """An S3-compatible object store for attachments."""

    endpoint: str = Field(
        min_length=1,
        pattern=r"^https?://",
        description="S3 endpoint URL, as the API pods reach it (e.g. an in-cluster Service).",
    )
    public_endpoint: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#\s]+/?$",
        description="The S3 address clients reach (http(s)://host[:port], no path), when "
        "`endpoint` is one they cannot: the signed upload and download URLs name it, the API's "
        "own calls keep using `endpoint`. A download URL is signed for this host, so the "
        "storage must receive requests with it as their Host header (an ingress or load "
        "balancer that passes Host on). Unset: the URLs name `endpoint`.",
    )
    bucket: str = Field(min_length=3, max_length=63, description="Bucket name.")
    region: str = Field(default="us-east-1", min_length=1, description="Bucket region.")
    credentials_secret: base.SecretRef = Field(
        description="Secret with `accessKeyId` and `secretAccessKey` keys."
    )


class Mail(base.SpecModel):
    """How the auth service sends e-mail (verification, password reset)."""

    cel_rules = (
        base.Rule(
            rule="self.provider == 'outbox' || has(self.secret)",
            message="mail.secret is required for the smtp and sendpulse providers",
        ),
    )
    provider: Literal["outbox", "smtp", "sendpulse"] = Field(
        default="outbox",
        description="outbox keeps mail in the database (development); smtp or sendpulse send it.",
    )
    secret: base.SecretRef | None = Field(
        default=None,
        description=(
            "Provider settings: smtp needs `host`, `port`, optional `username`, `password`;"
            " sendpulse needs `clientId`, `clientSecret`."
        ),
    )
