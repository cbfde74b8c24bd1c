"""Service configuration: one pydantic model per service, loaded from YAML and `GOCHAT_*` env vars.

The models here are the single source of truth for every key: the operator and the Helm chart
render only keys defined here, and an unknown key stops the process (a typo must not be ignored).
Precedence: defaults < YAML file (path in `GOCHAT_CONFIG`, else `./<service>_config.yaml`) < env.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ENV_PREFIX = "GOCHAT_"


class ConfigError(Exception):
    """A bad configuration value; `str()` is the one line printed before the process exits."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"config error: {key}: {reason}")
        self.key = key
        self.reason = reason


class ServiceConfig(BaseModel):
    """Keys every service understands."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="Address to listen on (0.0.0.0 in a pod).")
    port: int = Field(8080, ge=1, le=65535, description="HTTP port.")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"
    otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP traces endpoint; tracing is off when unset."
    )
    shutdown_grace_seconds: float = Field(
        10.0, ge=0, le=300, description="Time in-flight work gets after SIGTERM."
    )
    pg_dsn: str = Field(
        "postgresql://gochat:gochat@127.0.0.1:5432/gochat", description="PostgreSQL DSN."
    )
    pg_pool_min: int = Field(1, ge=0, le=100)
    pg_pool_max: int = Field(10, ge=1, le=500)
    event_loop: Literal["uvloop", "asyncio"] = Field(
        "uvloop",
        description="Event loop of the service: uvloop (libuv: less CPU per request and per "
        "gateway delivery; bench/api/FINDINGS.md, bench/ws/FINDINGS.md) or the standard "
        "library's asyncio.",
    )


class NatsSettings(BaseModel):
    """Mixin for services that talk to NATS JetStream."""

    nats_url: str = Field("nats://127.0.0.1:4222", description="NATS URL(s), comma separated.")
    nats_credentials_file: str | None = Field(None, description="NATS .creds file, if required.")
    nats_stream: str = Field("GOCHAT_EVENTS", description="JetStream stream holding domain events.")
    nats_duplicate_window_seconds: float = Field(
        300.0,
        ge=1,
        le=86_400,
        description="The event stream's duplicate window: an event re-published within it (a "
        "lost PubAck, a relay that died before deleting its outbox rows, a takeover) is dropped "
        "by its id; one re-published later is stored again and consumers drop it by its "
        "GoChat-Scope/GoChat-Outbox-Seq headers. Exported as "
        "gochat_outbox_duplicate_window_seconds: alert when "
        "gochat_outbox_oldest_unpublished_age_seconds nears it. JetStream keeps every id of "
        "the window in memory. Give every service the same value: each brings the stream to it.",
    )
    nats_stream_replicas: int = Field(
        1,
        ge=1,
        le=5,
        description="Copies of the event stream JetStream keeps, on distinct servers; a publish "
        "is acknowledged once a majority of them stored it, so with 3 an acknowledged event "
        "survives the loss of any one server (host crash included). At most the NATS cluster's "
        "JetStream servers (1 for a single server); changing it rescales the existing stream. "
        "Give every service the same value: each brings the stream to it (docs/operator.md).",
    )


class CassandraSettings(BaseModel):
    """Mixin for processes that use Cassandra/ScyllaDB as the message store."""

    cassandra_hosts: list[str] = Field(
        default_factory=list,
        description="Contact points, host or host:port (port 9042 by default); a list in YAML, "
        "comma separated in GOCHAT_CASSANDRA_HOSTS. Required when message_store is cassandra.",
    )
    cassandra_keyspace: str = Field("gochat", pattern=r"^[a-z][a-z0-9_]{0,47}$")
    cassandra_local_dc: str | None = Field(
        None,
        description="The data centre whose replicas are tried first (token-aware routing over "
        "DC-aware round robin). Required when message_store is cassandra.",
    )
    cassandra_consistency: Literal["LOCAL_QUORUM", "LOCAL_ONE", "QUORUM", "EACH_QUORUM", "ALL"] = (
        Field("LOCAL_QUORUM", description="Consistency level of every read and write.")
    )
    cassandra_request_timeout_seconds: float = Field(5.0, gt=0, le=120)
    cassandra_username: str | None = None
    cassandra_password: str | None = None

    @field_validator("cassandra_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [host.strip() for host in value.split(",") if host.strip()]
        return value


class AuthConfig(ServiceConfig):
    port: int = Field(8081, ge=1, le=65535)
    jwt_keys_dir: str = Field(
        ".gochat/jwt", description="Folder of Ed25519 PKCS8 PEM keys named <kid>.pem."
    )
    jwt_active_kid: str | None = Field(
        None, description="Key id that signs new tokens; default: the newest file by name."
    )
    jwt_issuer: str = "gochat"
    access_token_ttl_seconds: int = Field(900, ge=30, le=86400)
    refresh_token_ttl_seconds: int = Field(30 * 86400, ge=300, le=365 * 86400)
    email_token_ttl_seconds: int = Field(86400, ge=60, le=30 * 86400)
    reset_token_ttl_seconds: int = Field(3600, ge=60, le=86400)
    public_url: str = Field("http://127.0.0.1:8080", description="Base URL put in e-mailed links.")
    mailer: Literal["outbox", "smtp", "sendpulse"] = "outbox"
    mail_outbox_dir: str = Field(".gochat/mail", description="Where the outbox mailer writes .eml.")
    mail_from: str = "GoChat <no-reply@gochat.local>"
    mail_locale: str = Field(
        "en",
        pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$",
        description="Locale of account mails; a locale without templates falls back to its "
        "language, then to en.",
    )
    mail_send_attempts: int = Field(
        3, ge=1, le=10, description="Attempts within one send (backoff 0.5 s doubling)."
    )
    mail_queue_max_attempts: int = Field(
        8, ge=1, le=100, description="Sends of a queued mail before it is given up."
    )
    mail_queue_retry_seconds: float = Field(
        30.0, gt=0, le=3600, description="First delay before a queued mail is tried again."
    )
    mail_queue_poll_seconds: float = Field(
        5.0, gt=0, le=300, description="How often the sender looks for due mail."
    )
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        "none", description="starttls: upgrade after EHLO (587); tls: implicit TLS (465)."
    )
    smtp_ca_file: str | None = Field(
        None, description="CA bundle trusted for the relay's certificate (default: system)."
    )
    smtp_timeout_seconds: float = Field(10.0, gt=0, le=300)
    sendpulse_api_url: str = "https://api.sendpulse.com"
    sendpulse_client_id: str | None = None
    sendpulse_client_secret: str | None = None
    sendpulse_template_ids: dict[str, int] = Field(
        default_factory=dict,
        description='Mail kind (or "kind.locale") -> SendPulse template id; JSON in the env var.',
    )

    @field_validator("sendpulse_template_ids", mode="before")
    @classmethod
    def _parse_template_ids(cls, value: object) -> object:
        if isinstance(value, str):  # GOCHAT_SENDPULSE_TEMPLATE_IDS='{"confirm_email": 1}'
            try:
                return json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a JSON object: {exc}") from None
        return value

    login_attempts_per_account: int = Field(10, ge=1, description="Per 15 minutes.")
    login_attempts_per_ip: int = Field(50, ge=1, description="Per 15 minutes.")
    register_per_ip: int = Field(20, ge=1, description="Per hour.")
    reset_per_account: int = Field(5, ge=1, description="Per hour.")
    reset_per_ip: int = Field(
        20, ge=1, description="Password-reset and confirmation-mail requests per IP, per hour."
    )
    trusted_proxy_hops: int = Field(0, ge=0, le=5, description="X-Forwarded-For hops to trust.")


DEFAULT_ATTACHMENT_TYPES = (
    "image/*",
    "video/*",
    "audio/*",
    "text/plain",
    "application/pdf",
    "application/zip",
    "application/octet-stream",
)
_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9][\w.+-]{0,62}/(\*|[A-Za-z0-9][\w.+-]{0,126})$")


def http_origin(value: str, *, path_allowed: bool) -> str:
    """`value` if it is an http(s) URL with a host (without its trailing slash); ValueError
    saying what is wrong otherwise. Without `path_allowed`, a path, query or fragment is wrong:
    S3 serves buckets at the root of its address, and a signature covers the path it names."""
    parts = urllib.parse.urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL with a host (http://host:port)")
    try:
        _ = parts.port  # raises on a port that is not a number in 0-65535
    except ValueError:
        raise ValueError(f"{value!r} has an invalid port") from None
    if not path_allowed and (parts.path.strip("/") or parts.query or parts.fragment):
        raise ValueError(f"{value!r} has a path, query or fragment: give only scheme://host[:port]")
    return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/")))


class ApiConfig(ServiceConfig, NatsSettings, CassandraSettings):
    port: int = Field(8080, ge=1, le=65535)
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="API processes sharing the port (SO_REUSEPORT); each has its own pool of "
        "pg_pool_max connections and a snowflake worker id of its own.",
    )
    jwks_url: str = "http://127.0.0.1:8081/.well-known/jwks.json"
    jwt_issuer: str = "gochat"
    max_body_bytes: int = Field(1_048_576, ge=1024, le=100 * 1_048_576)
    max_message_length: int = Field(4000, ge=1, le=100_000)
    message_store: Literal["postgres", "cassandra"] = "postgres"
    search_backend: Literal["postgres", "opensearch"] = "postgres"
    blob_store: Literal["localfs", "s3"] = "localfs"
    blob_dir: str = Field(".gochat/files", description="The localfs blob store's folder.")
    blob_public_url: str = Field(
        "http://127.0.0.1:8080",
        description="The API's address as clients reach it: the base of the localfs blob "
        "store's signed upload and download URLs.",
    )
    blob_signing_key: str | None = Field(
        None,
        description="HMAC key of the localfs blob store's signed URLs; default: a random key "
        "kept in <blob_dir>/.signing-key (shared by the processes using that folder).",
    )
    max_attachment_bytes: int = Field(
        25 * 1_048_576, ge=1024, description="Largest file; the storage refuses one byte more."
    )
    max_attachments_per_message: int = Field(10, ge=1, le=50)
    attachment_content_types: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ATTACHMENT_TYPES),
        description="Types a file may declare: exact (`application/pdf`) or a family "
        "(`image/*`); a list in YAML, comma separated in GOCHAT_ATTACHMENT_CONTENT_TYPES.",
    )
    attachment_upload_ttl_seconds: int = Field(
        3600,
        ge=60,
        le=7 * 86_400,
        description="How long an upload URL works and an unsent upload is kept.",
    )
    attachment_download_ttl_seconds: int = Field(
        300, ge=10, le=7 * 86_400, description="Lifetime of a signed download URL."
    )
    attachment_sweep_seconds: float = Field(
        60.0, gt=0, le=3600, description="How often abandoned uploads are deleted."
    )
    s3_uploads_expire_days: int = Field(
        2,
        ge=1,
        le=365,
        description="Lifecycle rule set on the bucket at start: objects under uploads/ older "
        "than this are deleted by the storage (a net under the sweeper).",
    )
    outbox_batch_size: int = Field(256, ge=1, le=10_000)
    outbox_poll_seconds: float = Field(0.5, gt=0, le=60)
    outbox_gather_ms: float = Field(
        5.0,
        ge=0,
        le=1000,
        description="How long the outbox relay lets a burst's rows gather after a wake-up, so "
        "one batch carries several events (fewer queries and NATS writes under load).",
    )
    snowflake_worker_id: int | None = Field(
        None,
        ge=0,
        le=1023,
        description="Default: any free id, leased from PostgreSQL at start (table "
        "worker_id_leases), so that no two live processes share one. When set, this id is "
        "leased, and the service refuses to start while another live process holds it. With "
        "`workers` N, the workers lease this id and the N - 1 after it (modulo 1024).",
    )
    public_url: str = Field(
        "http://127.0.0.1:8080",
        description="Base URL of the web client, put in the links of notification mails "
        "(<public_url>/channels/<guild id or @me>/<channel id>/<message id>).",
    )
    notification_mail_delay_seconds: float = Field(
        900.0,
        gt=0,
        le=86_400,
        description="How long a mention or direct message stays unread before its recipient "
        "is mailed, and the least time between two notification mails to one user.",
    )
    notification_mail_sweep_seconds: float = Field(
        30.0, gt=0, le=3600, description="How often the API looks for notification mail owed."
    )
    opensearch_url: str | None = None
    opensearch_username: str | None = None
    opensearch_password: str | None = None
    opensearch_index_prefix: str = Field(
        "gochat",
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="Names the index template, the versioned indices and their read and "
        "write aliases (<prefix>-messages.v1, <prefix>-messages.read, ...).",
    )
    s3_endpoint: str | None = Field(
        None,
        description="The S3 address the API reaches (http(s)://host[:port]); unset: AWS S3 "
        "itself. MinIO and other S3-compatible servers are addressed path-style.",
    )
    s3_public_endpoint: str | None = Field(
        None,
        description="The S3 address clients reach (http(s)://host[:port], no path), when it "
        "differs from s3_endpoint (an in-cluster address): the signed upload and download URLs "
        "name it, while the API's own calls keep going to s3_endpoint. A download URL's "
        "signature covers this host, so the storage must receive requests with it as their "
        "Host header (a DNS name of the storage, or a proxy or ingress that passes Host on). "
        "Unset: the URLs name s3_endpoint.",
    )
    s3_bucket: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None

    @field_validator("s3_endpoint")
    @classmethod
    def _check_s3_endpoint(cls, value: str | None) -> str | None:
        return None if value is None else http_origin(value, path_allowed=True)

    @field_validator("s3_public_endpoint")
    @classmethod
    def _check_s3_public_endpoint(cls, value: str | None) -> str | None:
        return None if value is None else http_origin(value, path_allowed=False)

    @field_validator("attachment_content_types", mode="before")
    @classmethod
    def _split_types(cls, value: object) -> object:
        if isinstance(value, str):
            return [t.strip() for t in value.split(",") if t.strip()]
        return value

    @field_validator("attachment_content_types")
    @classmethod
    def _check_types(cls, value: list[str]) -> list[str]:
        for each in value:
            if not _MEDIA_TYPE.match(each):
                raise ValueError(f"{each!r} is not type/subtype or type/*")
        return [each.lower() for each in value]


class WsConfig(ServiceConfig, NatsSettings):
    port: int = Field(8082, ge=1, le=65535)
    jwks_url: str = "http://127.0.0.1:8081/.well-known/jwks.json"
    jwt_issuer: str = "gochat"
    heartbeat_interval_ms: int = Field(41_250, ge=1000, le=600_000)
    identify_timeout_seconds: float = Field(10.0, gt=0, le=120)
    resume_window_seconds: int = Field(120, ge=0, le=3600)
    max_frame_bytes: int = Field(16_384, ge=512, le=1_048_576)
    send_queue_max: int = Field(1024, ge=16, le=1_000_000)
    drain_window_seconds: float = Field(10.0, ge=0, le=600)
    presence_grace_seconds: float = Field(10.0, ge=0, le=600)
    workers: int = Field(1, ge=1, le=64, description="Gateway processes sharing the port.")
    server: Literal["native", "picows"] = Field(
        "native", description="WebSocket server implementation (bench/ws/SERVER_CHOICE.md)."
    )
    flush_interval_ms: float = Field(
        10.0, ge=0, le=1000, description="How long queued frames wait to be coalesced."
    )


class IndexerConfig(ServiceConfig, NatsSettings):
    port: int = Field(8083, ge=1, le=65535)
    search_backend: Literal["postgres", "opensearch"] = "postgres"
    opensearch_url: str | None = None
    opensearch_username: str | None = None
    opensearch_password: str | None = None
    opensearch_index_prefix: str = Field(
        "gochat",
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="Names the index template, the versioned indices and their read and "
        "write aliases (<prefix>-messages.v1, <prefix>-messages.read, ...).",
    )
    consumer_name: str = "indexer"
    batch_size: int = Field(100, ge=1, le=10_000)
    max_deliveries: int = Field(5, ge=1, le=100)


class MigrateConfig(CassandraSettings):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pg_dsn: str = "postgresql://gochat:gochat@127.0.0.1:5432/gochat"
    message_store: Literal["postgres", "cassandra"] = Field(
        "postgres", description="With cassandra, the CQL migrations (db/migrations/) run too."
    )
    cassandra_replication: str = Field(
        "datacenter1:1",
        pattern=r"^[A-Za-z0-9_.-]+:[1-9][0-9]?(,[A-Za-z0-9_.-]+:[1-9][0-9]?)*$",
        description="The keyspace's NetworkTopologyStrategy replication, `dc:factor` pairs "
        "separated by commas (datacenter1:3,dc2:3); used when the keyspace is created.",
    )
    search_backend: Literal["postgres", "opensearch"] = Field(
        "postgres",
        description="With opensearch, the index template, the first index and its aliases "
        "are created too.",
    )
    opensearch_url: str | None = None
    opensearch_username: str | None = None
    opensearch_password: str | None = None
    opensearch_index_prefix: str = Field("gochat", pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"


CONFIG_MODELS: dict[str, type[BaseModel]] = {
    "api": ApiConfig,
    "auth": AuthConfig,
    "ws": WsConfig,
    "indexer": IndexerConfig,
    "migrate": MigrateConfig,
}

ConfigT = TypeVar("ConfigT", bound=BaseModel)


def load_config(
    model: type[ConfigT],
    *,
    service: str,
    env: Mapping[str, str] | None = None,
    path: str | Path | None = None,
) -> ConfigT:
    """Build `model` from YAML and `GOCHAT_*` env vars; raise ConfigError naming the key."""
    environ = os.environ if env is None else env
    file_values = _read_yaml(
        path or environ.get(f"{ENV_PREFIX}CONFIG") or f"{service}_config.yaml",
        required=bool(path or environ.get(f"{ENV_PREFIX}CONFIG")),
    )
    values: dict[str, Any] = dict(file_values)
    known = set(model.model_fields)
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == f"{ENV_PREFIX}CONFIG":
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key in known:
            values[key] = raw
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "<root>"
        raise ConfigError(key, first["msg"]) from None


def _read_yaml(path: str | Path, *, required: bool) -> dict[str, Any]:
    file = Path(path)
    if not file.exists():
        if required:
            raise ConfigError("GOCHAT_CONFIG", f"file {file} does not exist")
        return {}
    try:
        data = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(str(file), f"invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(str(file), "top level must be a mapping of keys to values")
    return data
