"""`gochat search reindex [--delete-old] [--replicas N]`: rebuild the OpenSearch index from the
message store (adapters/opensearch/reindex.py says how) and switch the aliases to it.

Configured as the API is (GOCHAT_CONFIG / GOCHAT_* variables: `search_backend: opensearch`,
`opensearch_*`, `message_store` and its settings, `pg_dsn`). Progress goes to stderr, one line
every 5,000 documents; the summary to stdout. Exit status 2 for bad usage or config, 1 when the
rebuild failed (the old index then stays in use).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator

from gochat import composition
from gochat.adapters.opensearch import make_client, reindex, schema
from gochat.adapters.postgres.database import Database
from gochat.core import config, logs

USAGE = "gochat search reindex [--delete-old] [--replicas N]"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gochat search", usage=USAGE)
    parser.add_argument("action", choices=["reindex"])
    parser.add_argument("--delete-old", action="store_true", help="drop the old index after")
    parser.add_argument(
        "--replicas", type=int, default=schema.REPLICAS, help="replicas of the new index"
    )
    args = parser.parse_args(argv)
    if args.replicas < 0:
        print("gochat search: --replicas: must be 0 or more", file=sys.stderr)
        return 2
    try:
        cfg = config.load_config(config.ApiConfig, service="api")
        composition.check(cfg)
        if cfg.search_backend != "opensearch":
            raise config.ConfigError(
                "search_backend", "reindex rebuilds an OpenSearch index: set it to opensearch"
            )
    except config.ConfigError as exc:
        print(f"gochat search: {exc}", file=sys.stderr)
        return 2
    logs.setup_logging(service="search-reindex", level=cfg.log_level, fmt=cfg.log_format)
    try:
        result = asyncio.run(run(cfg, delete_old=args.delete_old, replicas=args.replicas))
    except Exception as exc:
        print(f"gochat search: reindex failed: {exc!r}", file=sys.stderr)
        return 1
    print(
        f"reindexed {result.documents} messages of {result.channels} channels into "
        f"{result.new_index} in {result.seconds:.1f} s (was {result.old_index or 'none'}"
        f"{', deleted' if result.deleted_old else ''})"
    )
    return 0


async def run(cfg: config.ApiConfig, *, delete_old: bool, replicas: int) -> reindex.Report:
    db = await Database.connect(cfg.pg_dsn, service="search-reindex", min_size=1, max_size=4)
    backends = composition.Backends(cfg)
    client = make_client(
        cfg.opensearch_url or "",
        username=cfg.opensearch_username,
        password=cfg.opensearch_password,
    )
    try:
        store = await backends.message_store(db)

        async def channel_ids() -> AsyncIterator[int]:
            rows = await db.fetch(
                "reindex_channels", "SELECT id FROM channels WHERE type <> 'category' ORDER BY id"
            )
            for row in rows:
                yield int(row["id"])

        def report(progress: reindex.Progress) -> None:
            rate = progress.documents / progress.seconds if progress.seconds else 0.0
            print(
                f"indexed {progress.documents} messages from {progress.channels} channels "
                f"({rate:.0f}/s)",
                file=sys.stderr,
                flush=True,
            )

        return await reindex.reindex(
            client,
            schema.Names(cfg.opensearch_index_prefix),
            store,
            channel_ids(),
            replicas=replicas,
            delete_old=delete_old,
            progress=report,
        )
    finally:
        await client.close()
        await backends.aclose()
        await db.close()
