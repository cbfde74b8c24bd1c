"""Where a send spends its time: each load runs with the breakdown of `breakdown.py`, and with
`--pyinstrument` the API process runs under pyinstrument (sampling, wall clock; install it into
the venv for profiling only: `uv pip install --python .venv/bin/python pyinstrument`).

    .venv/bin/python -m bench.api.profile [--pyinstrument] [--seconds 10] [--label x]

Writes bench/results/api-profile-<date>[-<label>].json (and .txt/.html profiles).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench.api import breakdown, load, platform_setup, seed, variants
from bench.api.run import RESULTS, say
from gochat import dev

LOADS = (("send", "one_guild", 1), ("send", "one_guild", 32), ("send", "many_guilds", 32),
         ("history", "one_guild", 8))  # fmt: skip


def _api_under_pyinstrument(out: Path) -> tuple[str, ...]:
    return (sys.executable, "-m", "pyinstrument", "-r", "pyisession", "-o", str(out),
            "-m", "gochat", "api")  # fmt: skip


async def profile_one(
    mode: str, targets: str, connections: int, *, ctx: dict[str, Any]
) -> dict[str, Any]:
    conn = await asyncpg.connect(ctx["admin_dsn"])
    try:
        metrics_before, wal_before = (
            await breakdown.scrape(ctx["api"]),
            await breakdown.wal_stats(conn),
        )
        sampler = breakdown.WaitSampler(ctx["admin_dsn"])
        sampler.start()
        spec = load.Load(mode, targets, connections, ctx["seconds"], 100_000)
        result = await asyncio.to_thread(
            load.run, spec, base_url=ctx["api"], targets_file=ctx["files"][targets],
            watched=ctx["watched"],
        )  # fmt: skip
        waits = await sampler.stop()
        metrics_after, wal_after = (
            await breakdown.scrape(ctx["api"]),
            await breakdown.wal_stats(conn),
        )
    finally:
        await conn.close()
    requests = max(result["requests"], 1)
    wal = {k: wal_after[k] - wal_before[k] for k in wal_before}
    say(f"{mode} {targets} c={connections}: {result['requests_per_second']}/s")
    return {
        "load": f"{mode}/{targets}/c{connections}",
        "requests_per_second": result["requests_per_second"],
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "cpu_us_per_request": result["cpu_us_per_request"],
        "cpu_cores": result["cpu_cores"],
        "server_side_mean_ms": breakdown.mean_ms(metrics_before, metrics_after),
        "wal_syncs_per_request": round(wal["wal_sync"] / requests, 3),
        "wal_sync_ms_per_sync": round(wal["wal_sync_time"] / max(wal["wal_sync"], 1), 3),
        "commits_per_request": round(wal["commits"] / requests, 2),
        "api_backends_by_wait_event": waits,
    }


async def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="gochat-bench-api-profile-"))
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    name = f"api-profile-{stamp}" + (f"-{args.label}" if args.label else "")
    session = work / "api.pyisession"
    command = variants.at_commit(args.ref).api_command if args.ref else None
    if args.pyinstrument:
        command = (*(command or ())[:2], *_api_under_pyinstrument(session))
    running = platform_setup.start(log_path=work / "platform.log", api_command=command)
    try:
        assert running.postgres is not None
        admin = running.postgres.admin_dsn
        conn = await asyncpg.connect(admin)
        await conn.execute("ALTER SYSTEM SET track_wal_io_timing = on")
        await conn.execute("SELECT pg_reload_conf()")
        await conn.close()
        api, pg = running.urls["api"], running.pg_dsn or ""
        seeded = await seed.seed(api_url=api, dsn=pg, keys_dir=running.root / "jwt", users=32)
        ctx = {
            "api": api,
            "admin_dsn": admin,
            "seconds": args.seconds,
            "watched": platform_setup.watched_pids(running),
            "files": {
                "one_guild": seed.write_targets(seeded.one_guild, work / "one.txt"),
                "many_guilds": seed.write_targets(seeded.many_guilds, work / "many.txt"),
            },
        }
        await profile_one("send", "many_guilds", 8, ctx={**ctx, "seconds": 2})  # warm-up
        results = [await profile_one(m, t, c, ctx=ctx) for m, t, c in LOADS]
    finally:
        platform_setup.stop(running)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=1) + "\n")
    if args.pyinstrument:
        for renderer, suffix in (("text", "txt"), ("html", "html")):
            await asyncio.to_thread(
                dev.subprocess.run,
                [sys.executable, "-m", "pyinstrument", "--load", str(session), "-r", renderer,
                 "-o", str(RESULTS / f"{name}.{suffix}")],
                check=True,
            )  # fmt: skip
    say(f"wrote {RESULTS / name}.json")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pyinstrument", action="store_true")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--label", default="")
    parser.add_argument("--ref", default="", help="profile apps/gochat as at this commit")
    asyncio.run(main(parser.parse_args()))
