"""The data plane on its production backends beside PostgreSQL, measured side by side in one
run: message writes and history reads (MessageStore: Cassandra vs PostgreSQL), the indexer end
to end and search at scale (SearchIndex: OpenSearch vs PostgreSQL), and the attachment round
trip (BlobStore: S3 on MinIO vs the local folder).

    .venv/bin/python -m bench.dataplane.run            # 200,000 search documents, 3 reps (~15 min)
    .venv/bin/python -m bench.dataplane.run --quick    # small sizes, the smoke test's (< 2 min)
    .venv/bin/python -m bench.dataplane.run --only history   # history reads alone (~5 min)

Every backend is the real embedded server (gochat.embedded), all started for the run and
stopped after. Each section warms both backends up, then runs 3 repetitions with the backends
interleaved, order rotating; it reports every run, the medians and the ratios of medians.
Writes bench/results/dataplane-<date>[-quick][-<label>].json (see bench/dataplane/FINDINGS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bench.api import platform_setup
from bench.dataplane import (
    cpu_meter,
    indexing,
    messages,
    pinned,
    search,
    servers,
    through_api,
    world,
)
from gochat import ports
from gochat.adapters.cassandra import history as cassandra_history
from gochat.adapters.cassandra import messages as cassandra_messages
from gochat.adapters.cassandra import migrations as cassandra_migrations
from gochat.adapters.cassandra import session as cassandra_session
from gochat.adapters.postgres import database, migrations
from gochat.adapters.postgres import messages as pg_messages
from gochat.embedded import cassandra, opensearch

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
KEYSPACE = "bench"
BUCKET = "gochat-bench"


@dataclass(frozen=True)
class Sizes:
    repetitions: int = 3
    writes: int = 2_000
    writers: int = 16
    history: tuple[messages.HistoryShape, ...] = (
        messages.HistoryShape("dense", buckets=100, per_bucket=100),
        messages.HistoryShape("sparse", buckets=100, per_bucket=5),
    )
    reads: int = 200
    index_events: int = 20_000
    search_documents: int = 200_000
    queries_per_shape: int = 100
    attachment_trips: int = 50
    api_writes: int = 1_000
    api_senders: int = 16
    notes: list[str] = field(default_factory=list)


QUICK = Sizes(
    writes=200, writers=8, reads=15, index_events=500, search_documents=5_000,
    queries_per_shape=10, attachment_trips=5, api_writes=100, api_senders=8,
    history=(messages.HistoryShape("dense", buckets=10, per_bucket=20),
             messages.HistoryShape("sparse", buckets=12, per_bucket=5)),
)  # fmt: skip


def say(text: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {text}", flush=True)


async def measure(
    s: servers.Servers, sizes: Sizes, root: Path, *, only: str | None = None
) -> dict[str, Any]:
    """Every section, or only the one named by `only` ("history": the history reads)."""
    pg_dsn = s.pg.dsn
    await migrations.apply(pg_dsn, migrations.default_directory())
    settings = cassandra_session.Settings(
        hosts=(s.cassandra.contact_point,), keyspace=KEYSPACE, local_dc=s.cassandra.local_dc,
        consistency="ONE",  # one node; production's LOCAL_QUORUM is one node's answer here too
    )  # fmt: skip
    await cassandra_migrations.apply(
        settings, cassandra_migrations.default_directory(), replication=f"{s.cassandra.local_dc}:1"
    )
    result: dict[str, Any] = {
        "machine": platform_setup.machine(root),
        "postgres_settings": await platform_setup.postgres_settings(pg_dsn),
        "servers": {
            "postgres": "16 (pgserver wheel)",
            "cassandra": cassandra.VERSION,
            "opensearch": opensearch.VERSION,
            "minio": "gochat.embedded.minio",
            "start_seconds": s.start_seconds,
        },
        "sizes": asdict(sizes),
    }
    meter = cpu_meter.Meter(s)
    db = await database.Database.connect(pg_dsn, service="bench-dataplane", max_size=20)
    flushing_db = await database.Database.connect(
        pg_dsn + servers.FLUSH_EACH_COMMIT, service="bench-dataplane", max_size=20
    )
    session = await cassandra_session.CassandraSession.connect(settings, service="bench")
    try:
        on_cassandra = await cassandra_messages.CassandraMessageStore.open(
            session, relational_db=db
        )
        stores: dict[str, ports.MessageStore] = {
            "postgres": pg_messages.PostgresMessageStore(db),
            "cassandra": on_cassandra,
        }
        if only == "history":
            w = await world.create(db)
            result["messages"] = {"history": {}}
            history_stores = dict(stores)
            forgetting = await _forgetting_cassandra_store(session, db)
            if forgetting is not None:
                history_stores[messages.FORGETTING] = forgetting
            for number, shape in enumerate(sizes.history):
                result["messages"]["history"][shape.name] = await messages._history(
                    history_stores, w, db, shape, number=number, writers=sizes.writers,
                    reads=sizes.reads, repetitions=sizes.repetitions, say=say,
                )  # fmt: skip
            result["loadavg_at_end"] = os.getloadavg()
            return result
        diagnostics: dict[str, messages.Creates] = {
            "cassandra_timeline_only": messages.CassandraTimelineOnly(session),
            "postgres_synchronous_commit": pg_messages.PostgresMessageStore(flushing_db),
        }
        result["messages"] = await messages.measure(
            stores, await world.create(db), db, writes=sizes.writes, writers=sizes.writers,
            shapes=sizes.history, reads=sizes.reads, repetitions=sizes.repetitions, say=say,
            meter=meter, diagnostics=diagnostics,
        )  # fmt: skip
        result["indexer"] = await indexing.measure(
            pg_dsn=pg_dsn, db=db, nats_url=s.nats.url, opensearch_url=s.opensearch.url,
            events=sizes.index_events, repetitions=sizes.repetitions, say=say, meter=meter,
        )  # fmt: skip
        result["search"] = await search.measure(
            db=db, opensearch_url=s.opensearch.url, documents=sizes.search_documents,
            per_shape=sizes.queries_per_shape, repetitions=sizes.repetitions, say=say,
            meter=meter,
        )  # fmt: skip
    finally:
        await session.close()
        await flushing_db.close()
        await db.close()
    result |= await _through_api(s, sizes, root)
    result["loadavg_at_end"] = os.getloadavg()
    return result


async def _forgetting_cassandra_store(
    session: cassandra_session.CassandraSession, db: database.Database
) -> ports.MessageStore | None:
    """A diagnostic beside the stores in the history reads: the Cassandra store with history's
    per-channel rows per bucket (`history.Densities`) remembering nothing, so every page reads
    as on a channel never read before (the newest page's first round: 2 buckets). The memory's
    effect is then measured within one run, on the same servers and load. None when the pinned
    code has no such memory."""
    densities = getattr(cassandra_history, "Densities", None)
    if densities is None:
        return None
    store = await cassandra_messages.CassandraMessageStore.open(session, relational_db=db)
    store._timeline._densities = densities(max_channels=0)  # forgets each channel at once
    return store


async def _through_api(s: servers.Servers, sizes: Sizes, root: Path) -> dict[str, Any]:
    boto3.client(
        "s3", endpoint_url=s.minio.endpoint, region_name=s.minio.region,
        aws_access_key_id=s.minio.access_key, aws_secret_access_key=s.minio.secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    ).create_bucket(Bucket=BUCKET)  # fmt: skip
    common: dict[str, Any] = {"pg_dsn": s.pg.dsn, "nats_url": s.nats.url, "keys_dir": root / "jwt",
              "blob_dir": str(root / "files")}  # fmt: skip
    s3: dict[str, Any] = {
        "blob_store": "s3",
        "s3_endpoint": s.minio.endpoint,
        "s3_bucket": BUCKET,
        "s3_region": s.minio.region,
        "s3_access_key_id": s.minio.access_key,
        "s3_secret_access_key": s.minio.secret_key,
    }
    on_cassandra: dict[str, Any] = {
        "message_store": "cassandra",
        "cassandra_hosts": [s.cassandra.contact_point],
        "cassandra_local_dc": s.cassandra.local_dc,
        "cassandra_keyspace": KEYSPACE,
        "cassandra_consistency": "LOCAL_ONE",
    }
    async with contextlib.AsyncExitStack() as stack:
        default = await stack.enter_async_context(through_api.api_user(**common))
        on_s3 = await stack.enter_async_context(through_api.api_user(**common, **s3))
        cassandra_api = await stack.enter_async_context(
            through_api.api_user(**common, **on_cassandra)
        )
        return {
            "api_writes": await through_api.measure_writes(
                {"postgres": default, "cassandra": cassandra_api}, count=sizes.api_writes,
                senders=sizes.api_senders, repetitions=sizes.repetitions, say=say,
            ),
            "attachments": await through_api.measure_attachments(
                {"localfs": default, "s3": on_s3}, trips=sizes.attachment_trips,
                repetitions=sizes.repetitions, say=say,
            ),
        }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (the smoke test's)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON")
    parser.add_argument("--label", default="")
    parser.add_argument(
        "--only", choices=["history"], help="run one section alone (history: history reads)"
    )
    parser.add_argument(
        "--code", default="HEAD", help='the commit whose apps/ and db/ run, or "worktree"'
    )
    args = parser.parse_args()
    pinned.reexec(args.code, "bench.dataplane.run", sys.argv[1:])
    logging.basicConfig(level=logging.WARNING)
    # Each section closes its connections on purpose: the clients' reconnect warnings are noise.
    logging.getLogger("gochat.adapters.nats.connection").setLevel(logging.ERROR)
    # The client logs every 404 as a warning: each fresh index layout's alias lookup is one.
    logging.getLogger("opensearch").setLevel(logging.ERROR)
    sizes = QUICK if args.quick else Sizes()
    started = datetime.now(UTC)
    with (
        tempfile.TemporaryDirectory(prefix="gochat-bench-dataplane-") as folder,
        servers.running(Path(folder)) as running,
    ):
        say(f"servers up: {running.start_seconds}")
        result = asyncio.run(measure(running, sizes, Path(folder), only=args.only))
    document = {
        "benchmark": "dataplane",
        "quick": args.quick,
        "only": args.only,
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "code": pinned.describe(),
        **result,
    }
    suffix = ("-quick" if args.quick else "") + (f"-{args.label}" if args.label else "")
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"dataplane-{started:%Y-%m-%d}{suffix}.json"
    out.write_text(json.dumps(document, indent=2) + "\n")
    say(f"wrote {out}")


if __name__ == "__main__":
    main()
