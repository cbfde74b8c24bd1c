"""Option (b) of the hot-scope question, measured: the relay in a thread of its own, with its own
event loop, NATS connection and database pool, while the main loop runs the 2 ms CPU hog of
`run.py` (a busy API process). One hot scope, `--rows` rows, against the relay in the hog's
loop; each with atomic batches off (one event per PubAck) and on (as the API runs it).

    .venv/bin/python -m bench.relay.own_thread            # about 2 minutes

Not what the API does (the relay runs in the API's loop): kept to show what a thread would buy.
Writes bench/results/relay-<date>-own-thread.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.relay import run
from gochat.adapters.nats import connection, publisher, stream
from gochat.adapters.postgres import database, migrations, outbox_relay
from gochat.embedded import nats, postgres

VARIANTS = (("loop", 0), ("thread", 0), ("loop", 16), ("thread", 16))


async def relay_until(
    dsn: str, url: str, *, stop: threading.Event, max_atomic_batches: int
) -> None:
    db = await database.Database.connect(dsn, service="bench-relay-thread", max_size=2)
    client = await connection.connect(url, name="bench-relay-thread")
    relay = outbox_relay.OutboxRelay(
        dsn=dsn,
        database=db,
        publisher=publisher.JetStreamPublisher(
            client, stream=run.STREAM, max_atomic_batches=max_atomic_batches
        ),
        poll_seconds=0.05,
    )
    await relay.start()
    await asyncio.to_thread(stop.wait)
    await relay.stop()
    await client.close()
    await db.close()


async def drain_once(
    pg: postgres.EmbeddedPostgres, js_server: nats.EmbeddedNats, *, rows: int, where: str,
    max_atomic_batches: int,
) -> float:  # fmt: skip
    db = await database.Database.connect(pg.dsn, service="bench-relay", max_size=4)
    client = await connection.connect(js_server.url, name="bench-relay")
    stop = threading.Event()
    try:
        await db.fetch("bench_reset", "TRUNCATE outbox")
        await run.fill_outbox(db, rows=rows, scopes=1)
        js = client.jetstream()
        with contextlib.suppress(Exception):
            await js.delete_stream(run.STREAM)
        await stream.ensure_stream(js, run.STREAM)
        in_thread = threading.Thread(
            target=lambda: asyncio.run(
                relay_until(pg.dsn, js_server.url, stop=stop, max_atomic_batches=max_atomic_batches)
            )
        )
        relay = outbox_relay.OutboxRelay(
            dsn=pg.dsn,
            database=db,
            publisher=publisher.JetStreamPublisher(
                client, stream=run.STREAM, max_atomic_batches=max_atomic_batches
            ),
            poll_seconds=0.05,
        )
        async with run.cpu_hog(2.0):
            started = time.perf_counter()
            if where == "thread":
                in_thread.start()
            else:
                await relay.start()
            while True:  # the stream's count, as in run.py
                if (await js.stream_info(run.STREAM)).state.messages >= rows:
                    break
                await asyncio.sleep(0.02)
            seconds = time.perf_counter() - started
        stop.set()
        if where == "thread":
            await asyncio.to_thread(in_thread.join)
        else:
            await relay.stop()
        return seconds
    finally:
        await client.close()
        await db.close()


async def measure(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    with run.servers(root) as (pg, js_server):
        await migrations.apply(pg.dsn, migrations.default_directory())
        for repetition in range(args.repetitions):
            for where, batches in VARIANTS:
                seconds = await drain_once(
                    pg, js_server, rows=args.rows, where=where, max_atomic_batches=batches
                )
                name = f"{where}, max_atomic_batches {batches}"
                run.say(f"{name}: {seconds:.2f} s")
                runs.append({"repetition": repetition, "variant": name, "seconds": seconds})
    medians = {
        variant: statistics.median(r["seconds"] for r in runs if r["variant"] == variant)
        for variant in dict.fromkeys(r["variant"] for r in runs)
    }
    return {
        "rows": args.rows,
        "scopes": 1,
        "hog_ms_per_turn_in_main_loop": 2.0,
        "runs": runs,
        "median_seconds": medians,
        "median_events_per_s": {variant: args.rows / m for variant, m in medians.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("gochat.adapters.nats.connection").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="gochat-bench-relay-") as root:
        result = asyncio.run(measure(args, Path(root)))
    out = run.RESULTS / f"relay-{datetime.now(UTC):%Y-%m-%d}-own-thread.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    for variant, events_per_s in result["median_events_per_s"].items():
        run.say(f"{variant}: {events_per_s:.0f} events/s")
    run.say(f"wrote {out}")


if __name__ == "__main__":
    main()
