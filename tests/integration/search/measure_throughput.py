"""Indexer throughput on the embedded servers (not a test): fills a stream with N message
events, then times one in-process indexer until its consumer has acknowledged all of them.

    .venv/bin/python -m tests.integration.search.measure_throughput --messages 30000 --batch 100

Prints one JSON line per batch size. Numbers vary with what else runs on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from gochat.adapters.nats import connection, stream
from gochat.adapters.postgres import migrations
from gochat.adapters.postgres.database import Database
from gochat.embedded import nats, postgres, process
from gochat.indexer import app as indexer_app
from tests.integration.search.support import Chat, make_indexer_config

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
]


async def measure(*, pg_dsn: str, nats_url: str, messages: int, batch: int) -> dict[str, float]:
    client = await connection.connect(nats_url, name="throughput")
    js = client.jetstream()
    name = f"THROUGHPUT_{batch}"
    await stream.ensure_stream(js, name)
    chat = Chat()
    pending = []
    for n in range(messages):
        text = " ".join(WORDS[(n + k) % len(WORDS)] for k in range(12)) + f" message {n}"
        event = chat.created(chat.message(text, channel_id=42))
        pending.append(
            await js.publish_async(
                event.subject,
                event.model_dump_json().encode(),
                headers={"Nats-Msg-Id": str(event.id)},
            )
        )
        if len(pending) >= 2000:
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)
    cfg = make_indexer_config(pg_dsn, nats_url, name, batch_size=batch)
    started = time.perf_counter()
    async with indexer_app.running_indexer(cfg):
        while True:
            info = await js.consumer_info(name, cfg.consumer_name)
            if info.num_pending == 0 and info.num_ack_pending == 0:
                break
            await asyncio.sleep(0.02)
        seconds = time.perf_counter() - started
    await js.delete_stream(name)
    await client.close()
    return {
        "messages": messages,
        "batch_size": batch,
        "seconds": round(seconds, 2),
        "docs_per_second": round(messages / seconds),
    }


async def main(messages: int, batches: list[int]) -> None:
    with tempfile.TemporaryDirectory() as root:
        pg = postgres.EmbeddedPostgres(data_dir=Path(root) / "pg", port=process.free_port())
        bus = nats.EmbeddedNats(data_dir=Path(root) / "nats", port=process.free_port())
        pg.start()
        bus.start()
        try:
            await migrations.apply(pg.dsn, migrations.default_directory())
            for batch in batches:
                db = await Database.connect(pg.dsn, service="throughput")
                await db.fetch("reset", "TRUNCATE search_documents")
                await db.close()
                result = await measure(
                    pg_dsn=pg.dsn, nats_url=bus.url, messages=messages, batch=batch
                )
                print(json.dumps(result), flush=True)
        finally:
            bus.stop()
            pg.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--batch", type=int, action="append")
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.batch or [20, 100, 500]))
