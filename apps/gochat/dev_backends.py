"""The production backends for `gochat dev --backends production`: Cassandra for messages,
OpenSearch for search, MinIO (S3) for attachments, each a real server from `gochat.embedded`
(the launchers the tests use), its data under the dev data folder.

Each backend is a small object: it starts and stops its server, says whether it died, and
contributes the `GOCHAT_*` settings that point every service (and `gochat migrate`) at it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from gochat.embedded import cassandra, minio, opensearch
from gochat.embedded import server as embedded_server

DEFAULT_PORTS = {
    "GOCHAT_DEV_CASSANDRA_PORT": 19042,
    "GOCHAT_DEV_CASSANDRA_STORAGE_PORT": 17000,
    "GOCHAT_DEV_OPENSEARCH_PORT": 19200,
    "GOCHAT_DEV_OPENSEARCH_TRANSPORT_PORT": 19300,
    "GOCHAT_DEV_MINIO_PORT": 19000,
    "GOCHAT_DEV_MINIO_CONSOLE_PORT": 19001,
}
BUCKET = "gochat"
# Local-only credentials of the dev MinIO (it listens on 127.0.0.1 only).
MINIO_ACCESS_KEY, MINIO_SECRET_KEY = "gochat-dev", "gochat-dev-secret"


class Backend(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    @property
    def running(self) -> bool: ...

    @property
    def log_path(self) -> Path: ...

    def settings(self) -> dict[str, str]:
        """The `GOCHAT_*` variables every service and `gochat migrate` get."""

    def address(self) -> str:
        """Where it listens, for the table `gochat dev` prints."""


class _ServerBackend:
    """Starts, stops and watches its embedded server (`server`, set by the subclass)."""

    server: embedded_server.EmbeddedServer

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    @property
    def running(self) -> bool:
        return self.server.running

    @property
    def log_path(self) -> Path:
        return self.server.log_path


class CassandraBackend(_ServerBackend):
    name = "cassandra"
    server: cassandra.EmbeddedCassandra

    def __init__(self, *, data_dir: Path, port: int, storage_port: int) -> None:
        self.server = cassandra.EmbeddedCassandra(
            data_dir=data_dir, port=port, storage_port=storage_port
        )

    def settings(self) -> dict[str, str]:
        # One node: replication 1, and LOCAL_QUORUM of one replica is that replica.
        return {
            "GOCHAT_MESSAGE_STORE": "cassandra",
            "GOCHAT_CASSANDRA_HOSTS": self.server.contact_point,
            "GOCHAT_CASSANDRA_LOCAL_DC": self.server.local_dc,
            "GOCHAT_CASSANDRA_REPLICATION": f"{self.server.local_dc}:1",
        }

    def address(self) -> str:
        return f"{self.server.contact_point} (CQL, dc {self.server.local_dc})"


class OpenSearchBackend(_ServerBackend):
    name = "opensearch"
    server: opensearch.EmbeddedOpenSearch

    def __init__(self, *, data_dir: Path, port: int, transport_port: int) -> None:
        self.server = opensearch.EmbeddedOpenSearch(
            data_dir=data_dir, port=port, transport_port=transport_port
        )

    def settings(self) -> dict[str, str]:
        return {"GOCHAT_SEARCH_BACKEND": "opensearch", "GOCHAT_OPENSEARCH_URL": self.server.url}

    def address(self) -> str:
        return self.server.url


class MinioBackend(_ServerBackend):
    name = "minio"
    server: minio.EmbeddedMinio

    def __init__(self, *, data_dir: Path, port: int, console_port: int) -> None:
        self.server = minio.EmbeddedMinio(
            data_dir=data_dir,
            port=port,
            console_port=console_port,
            access_key=MINIO_ACCESS_KEY,
            secret_key=MINIO_SECRET_KEY,
        )

    def start(self) -> None:
        """Start MinIO (building its binary first when it is not cached: minutes, once) and
        create the bucket, which the API expects to exist as a platform team would make it."""
        super().start()
        self._ensure_bucket()

    def settings(self) -> dict[str, str]:
        return {
            "GOCHAT_BLOB_STORE": "s3",
            "GOCHAT_S3_ENDPOINT": self.server.endpoint,
            "GOCHAT_S3_BUCKET": BUCKET,
            "GOCHAT_S3_REGION": self.server.region,
            "GOCHAT_S3_ACCESS_KEY_ID": self.server.access_key,
            "GOCHAT_S3_SECRET_ACCESS_KEY": self.server.secret_key,
        }

    def address(self) -> str:
        return f"{self.server.endpoint} (S3, bucket {BUCKET})"

    def _ensure_bucket(self) -> None:
        client = minio.root_client(
            self.server.endpoint,
            access_key=self.server.access_key,
            secret_key=self.server.secret_key,
            region=self.server.region,
        )
        existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
        if BUCKET not in existing:
            client.create_bucket(Bucket=BUCKET)


def production(root: Path, ports: Mapping[str, int]) -> list[Backend]:
    """Cassandra, OpenSearch and MinIO with their data under `root`, on `ports` (the keys of
    DEFAULT_PORTS), in the order they start."""
    return [
        CassandraBackend(
            data_dir=root / "cassandra",
            port=ports["GOCHAT_DEV_CASSANDRA_PORT"],
            storage_port=ports["GOCHAT_DEV_CASSANDRA_STORAGE_PORT"],
        ),
        OpenSearchBackend(
            data_dir=root / "opensearch",
            port=ports["GOCHAT_DEV_OPENSEARCH_PORT"],
            transport_port=ports["GOCHAT_DEV_OPENSEARCH_TRANSPORT_PORT"],
        ),
        MinioBackend(
            data_dir=root / "minio",
            port=ports["GOCHAT_DEV_MINIO_PORT"],
            console_port=ports["GOCHAT_DEV_MINIO_CONSOLE_PORT"],
        ),
    ]
