"""The outbox relay's drain time: N committed outbox rows to JetStream, the per-scope publisher
(one PubAck in flight per scope) against the chained one it replaced, on real PostgreSQL and
NATS, over many scopes and over one hot scope.

    .venv/bin/python -m bench.relay.run                  # 3 reps (about 10 minutes)
    .venv/bin/python -m bench.relay.run --smoke          # fewer rows, 1 rep

Variants: `chained` is the adapter before per-scope publishing (every event expects its batch
predecessor as the stream's last message, 256 PubAcks in flight whatever the scope:
bench/relay/chained.py), `per-scope` the current one with atomic batches off (one event per
PubAck within a scope, 256 in flight across scopes), `atomic` the current one as the API runs
it (a scope's run of 32 or more events of a batch as one atomic batch, up to 16 batches in
flight). Each repetition runs all three (order rotating), each on a freshly filled outbox and an
empty stream, timing from the relay's start until the stream holds every row and the outbox
has none unpublished. Sections: 50 scopes and 1 scope, each with an idle event loop and with a
CPU hog sharing the relay's loop (a task that busy-waits `--hog-ms` and yields, again and
again), as inside a loaded API process, where every event-loop turn the relay waits for comes
after a slice of request handling.
Writes bench/results/relay-<date>[-<label>].json; quote the medians and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nats.aio import client as nats_client

from bench.api import platform_setup
from bench.relay import chained
from gochat import ports
from gochat.adapters.nats import connection, publisher, stream
from gochat.adapters.postgres import database, migrations, outbox, outbox_relay
from gochat.core import events, ids
from gochat.embedded import nats, postgres, process

RESULTS = Path(__file__).resolve().parents[1] / "results"
STREAM = "GOCHAT_EVENTS"
VARIANTS = ("chained", "per-scope", "atomic")


def say(text: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {text}", flush=True)


@contextlib.contextmanager
def servers(root: Path) -> Iterator[tuple[postgres.EmbeddedPostgres, nats.EmbeddedNats]]:
    pg = postgres.EmbeddedPostgres(data_dir=root / "pg", port=process.free_port())
    js = nats.EmbeddedNats(data_dir=root / "nats", port=process.free_port())
    pg.start()
    try:
        js.start()
        try:
            yield pg, js
        finally:
            js.stop()
    finally:
        pg.stop()


async def fill_outbox(db: database.Database, *, rows: int, scopes: int) -> None:
    """`rows` events over `scopes` guilds, committed 100 per transaction by 8 writers."""
    snowflakes = ids.SnowflakeGenerator(3)

    async def writer(first: int) -> None:
        for start in range(first, rows, 800):
            batch = [
                events.build(
                    "CHANNEL_PINS_UPDATE",
                    events.PinsUpdated(channel_id=n % scopes + 1, message_id=n + 1, pinned=True),
                    event_id=snowflakes.next_id(),
                    scope="guild",
                    scope_id=n % scopes + 1,
                    guild_id=n % scopes + 1,
                )
                for n in range(start, min(start + 100, rows))
            ]
            async with db.transaction("bench_fill_outbox") as conn:
                await outbox.append(conn, batch)

    await asyncio.gather(*(writer(first) for first in range(0, 800, 100)))


@contextlib.asynccontextmanager
async def cpu_hog(busy_ms: float) -> AsyncIterator[None]:
    """Keeps the event loop busy `busy_ms` per turn, as request handling would."""
    stop = asyncio.Event()

    async def hog() -> None:
        while not stop.is_set():
            until = time.perf_counter() + busy_ms / 1000
            while time.perf_counter() < until:
                pass
            await asyncio.sleep(0)

    task = asyncio.create_task(hog()) if busy_ms > 0 else None
    try:
        yield
    finally:
        stop.set()
        if task is not None:
            await task


async def drain_once(
    pg: postgres.EmbeddedPostgres, js_server: nats.EmbeddedNats, *, variant: str, rows: int,
    scopes: int, hog_ms: float,
) -> dict[str, Any]:  # fmt: skip
    db = await database.Database.connect(pg.dsn, service="bench-relay", max_size=10)
    client = await connection.connect(js_server.url, name="bench-relay")
    try:
        await db.fetch("bench_reset", "TRUNCATE outbox")
        await fill_outbox(db, rows=rows, scopes=scopes)
        js = client.jetstream()
        with contextlib.suppress(Exception):
            await js.delete_stream(STREAM)
        await stream.ensure_stream(js, STREAM)
        relay = outbox_relay.OutboxRelay(
            dsn=pg.dsn,
            database=db,
            publisher=publisher_for(variant, client),
            poll_seconds=0.05,
        )
        async with cpu_hog(hog_ms):
            started = time.perf_counter()
            await relay.start()
            while True:  # the stream's count, not our metrics: what consumers see
                if (await js.stream_info(STREAM)).state.messages >= rows:
                    break
                await asyncio.sleep(0.02)
            seconds = time.perf_counter() - started
        await relay.stop()  # after the last UPDATE
        lag = await relay.lag()
        stored = (await js.stream_info(STREAM)).state.messages
        assert stored == rows and lag.unpublished == 0, (stored, lag)
        return {"variant": variant, "seconds": seconds, "events_per_s": rows / seconds}
    finally:
        await client.close()
        await db.close()


async def section(
    pg: postgres.EmbeddedPostgres, js_server: nats.EmbeddedNats, *, rows: int, scopes: int,
    repetitions: int, hog_ms: float,
) -> dict[str, Any]:  # fmt: skip
    runs: list[dict[str, Any]] = []
    for repetition in range(repetitions):
        order = VARIANTS[repetition % len(VARIANTS) :] + VARIANTS[: repetition % len(VARIANTS)]
        for variant in order:
            run = await drain_once(
                pg, js_server, variant=variant, rows=rows, scopes=scopes, hog_ms=hog_ms
            )
            say(f"{scopes} scopes, hog {hog_ms} ms, {variant}: {run['seconds']:.2f} s")
            runs.append({"repetition": repetition, **run})
    medians = {
        variant: statistics.median(r["seconds"] for r in runs if r["variant"] == variant)
        for variant in VARIANTS
    }
    return {
        "rows": rows,
        "scopes": scopes,
        "hog_ms_per_turn": hog_ms,
        "runs": runs,
        "median_seconds": medians,
        "median_events_per_s": {variant: rows / m for variant, m in medians.items()},
        "per_scope_vs_chained": medians["chained"] / medians["per-scope"],
        "atomic_vs_chained": medians["chained"] / medians["atomic"],
        "atomic_vs_per_scope": medians["per-scope"] / medians["atomic"],
    }


def publisher_for(variant: str, client: nats_client.Client) -> ports.EventPublisher:
    if variant == "chained":
        return chained.ChainedPublisher(client, stream=STREAM)
    if variant == "per-scope":  # one event per PubAck round trip within a scope
        return publisher.JetStreamPublisher(client, stream=STREAM)
    return publisher.JetStreamPublisher(
        client, stream=STREAM, max_atomic_batches=publisher.ATOMIC_BATCHES_IN_FLIGHT
    )


async def measure(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    with servers(root) as (pg, js_server):
        await migrations.apply(pg.dsn, migrations.default_directory())
        result: dict[str, Any] = {
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": platform_setup.machine(root),
            "postgres": await platform_setup.postgres_settings(pg.dsn),
            "batch_size": 256,
        }
        for name, scopes in (("many_scopes", args.scopes), ("hot_scope", 1)):
            for loop, rows, hog_ms in (
                ("idle_loop", args.rows, 0.0),
                ("busy_loop", args.hog_rows, args.hog_ms),
            ):
                if scopes == 1 and hog_ms:
                    rows = args.hot_hog_rows
                result[f"{name}_{loop}"] = await section(
                    pg, js_server, rows=rows, scopes=scopes, repetitions=args.repetitions,
                    hog_ms=hog_ms,
                )  # fmt: skip
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--hog-rows", type=int, default=2_000)
    parser.add_argument("--hot-hog-rows", type=int, default=500)
    parser.add_argument("--scopes", type=int, default=50)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--hog-ms", type=float, default=2.0)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    # Each run closes its connection on purpose; the client's "reconnecting" warning is noise.
    logging.getLogger("gochat.adapters.nats.connection").setLevel(logging.ERROR)
    if args.smoke:
        args.rows, args.hog_rows, args.hot_hog_rows, args.repetitions = 2_000, 300, 100, 1
    with tempfile.TemporaryDirectory(prefix="gochat-bench-relay-") as root:
        result = asyncio.run(measure(args, Path(root)))
    label = f"-{args.label}" if args.label else ""
    out = RESULTS / f"relay-{datetime.now(UTC):%Y-%m-%d}{label}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    for name, s in result.items():
        if isinstance(s, dict) and "median_seconds" in s:
            say(f"{name}: medians {s['median_seconds']} s, throughput vs chained: per-scope "
                f"{s['per_scope_vs_chained']:.2f}, atomic {s['atomic_vs_chained']:.2f}; "
                f"atomic vs per-scope {s['atomic_vs_per_scope']:.2f}")  # fmt: skip
    say(f"wrote {out}")


if __name__ == "__main__":
    main()
