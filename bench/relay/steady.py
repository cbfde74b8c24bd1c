"""One hot guild at a steady rate while the relay shares its loop with a 2 ms CPU hog (a busy
API process): does a backlog build? Writers commit `--rate` events/s into one scope for
`--seconds` (10 per transaction); the relay runs beside them with atomic batches off (one event
per PubAck) and on (as the API runs it). Reported: the outbox backlog and the age of its oldest
row, sampled every 0.5 s, and the time after the writers stop until the stream holds every event.

    .venv/bin/python -m bench.relay.steady          # about 1 minute

Writes bench/results/relay-<date>-steady.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.relay import run
from gochat.adapters.nats import connection, publisher, stream
from gochat.adapters.postgres import database, migrations, outbox, outbox_relay
from gochat.core import events, ids
from gochat.embedded import nats, postgres


async def write_steadily(db: database.Database, *, rate: float, seconds: float) -> int:
    snowflakes = ids.SnowflakeGenerator(5)
    written, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        due = int(elapsed * rate) + 10
        if written < due:
            batch = [
                events.build(
                    "CHANNEL_PINS_UPDATE",
                    events.PinsUpdated(channel_id=1, message_id=n + 1, pinned=True),
                    event_id=snowflakes.next_id(),
                    scope="guild",
                    scope_id=1,
                    guild_id=1,
                )
                for n in range(written, written + 10)
            ]
            async with db.transaction("bench_write_steadily") as conn:
                await outbox.append(conn, batch)
            written += 10
        await asyncio.sleep(10 / rate / 2)
    return written


async def one_variant(
    pg: postgres.EmbeddedPostgres, js_server: nats.EmbeddedNats, *, rate: float, seconds: float,
    max_atomic_batches: int,
) -> dict[str, Any]:  # fmt: skip
    db = await database.Database.connect(pg.dsn, service="bench-relay", max_size=4)
    client = await connection.connect(js_server.url, name="bench-relay")
    try:
        await db.fetch("bench_reset", "TRUNCATE outbox")
        js = client.jetstream()
        with contextlib.suppress(Exception):
            await js.delete_stream(run.STREAM)
        await stream.ensure_stream(js, run.STREAM)
        relay = outbox_relay.OutboxRelay(
            dsn=pg.dsn,
            database=db,
            publisher=publisher.JetStreamPublisher(
                client, stream=run.STREAM, max_atomic_batches=max_atomic_batches
            ),
        )
        samples: list[dict[str, float]] = []
        async with run.cpu_hog(2.0):
            await relay.start()
            writer = asyncio.create_task(write_steadily(db, rate=rate, seconds=seconds))
            started = time.perf_counter()
            while not writer.done():
                await asyncio.sleep(0.5)
                lag = await relay.lag()
                samples.append(
                    {
                        "t": round(time.perf_counter() - started, 2),
                        "unpublished": lag.unpublished,
                        "oldest_age_s": round(lag.oldest_age_seconds, 3),
                    }
                )
            written = await writer
            stopped = time.perf_counter()
            while True:
                if (await js.stream_info(run.STREAM)).state.messages >= written:
                    break
                await asyncio.sleep(0.02)
            drained_after = time.perf_counter() - stopped
        await relay.stop()
        return {
            "max_atomic_batches": max_atomic_batches,
            "written": written,
            "drained_after_writers_stopped_s": round(drained_after, 2),
            "max_unpublished": max(s["unpublished"] for s in samples),
            "max_oldest_age_s": max(s["oldest_age_s"] for s in samples),
            "samples": samples,
        }
    finally:
        await client.close()
        await db.close()


async def measure(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    with run.servers(root) as (pg, js_server):
        await migrations.apply(pg.dsn, migrations.default_directory())
        result: dict[str, Any] = {"rate_per_s": args.rate, "seconds": args.seconds, "runs": []}
        for batches in (0, publisher.ATOMIC_BATCHES_IN_FLIGHT):
            outcome = await one_variant(
                pg, js_server, rate=args.rate, seconds=args.seconds, max_atomic_batches=batches
            )
            result["runs"].append(outcome)
            run.say(
                f"max_atomic_batches {batches}: {outcome['written']} written, backlog up to "
                f"{outcome['max_unpublished']} (oldest {outcome['max_oldest_age_s']} s), "
                f"drained {outcome['drained_after_writers_stopped_s']} s after the writers"
            )
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    logging.getLogger("gochat.adapters.nats.connection").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="gochat-bench-relay-") as root:
        result = asyncio.run(measure(args, Path(root)))
    out = run.RESULTS / f"relay-{datetime.now(UTC):%Y-%m-%d}-steady.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    run.say(f"wrote {out}")


if __name__ == "__main__":
    main()
