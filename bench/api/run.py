"""The REST API benchmark: sends (one guild, many guilds) and history reads at 1, 8 and 32
connections, each a bounded wrk load against the platform started as `make dev` starts it.

    .venv/bin/python -m bench.api.run                     # 3 repetitions (~9 min)
    .venv/bin/python -m bench.api.run --smoke             # 1 repetition, short loads (~1 min)
    .venv/bin/python -m bench.api.run --baseline-ref HEAD~2 --no-fsync-pairs --label ab
                                                          # that commit vs the working tree

Writes bench/results/api-<date>[-<label>].json and a .png figure beside it. Medians of the
repetitions are what to quote; min and max show how noisy the shared machine was. A fourth
section repeats the sends with synchronous_commit off, paired with an "on" run each time, to
show what the commit's fsync costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.api import figure, load, platform_setup, seed, variants

RESULTS = Path(__file__).resolve().parents[1] / "results"
SCENARIOS = (("send", "one_guild"), ("send", "many_guilds"), ("history", "one_guild"))


def say(text: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {text}", flush=True)


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("requests_per_second", "p50_us", "p99_us", "max_us")
    out: dict[str, Any] = {
        k: {
            "median": statistics.median(r[k] for r in runs),
            "min": min(r[k] for r in runs),
            "max": max(r[k] for r in runs),
        }
        for k in keys
    }
    names = runs[0]["cpu_cores"].keys()
    out["cpu_cores_median"] = {n: statistics.median(r["cpu_cores"][n] for r in runs) for n in names}
    out["cpu_us_per_request_median"] = {
        n: statistics.median(r["cpu_us_per_request"][n] for r in runs) for n in names
    }
    out["errors"] = sum(r["errors_status"] + r["errors_timeout"] + r["errors_read"] for r in runs)
    return out


async def measure_variant(
    variant: variants.Variant, *, args: argparse.Namespace, fsync_pairs: bool
) -> dict[str, list[dict[str, Any]]]:
    """One repetition: a fresh platform running `variant`, seeded, every scenario once."""
    work = Path(tempfile.mkdtemp(prefix="gochat-bench-api-run-"))
    say(f"{variant.name}: starting the platform (log: {work / 'platform.log'})")
    running = platform_setup.start(log_path=work / "platform.log", api_command=variant.api_command)
    runs: dict[str, list[dict[str, Any]]] = {}
    try:
        api, pg = running.urls["api"], running.pg_dsn or ""
        seeded = await seed.seed(
            api_url=api, dsn=pg, keys_dir=running.root / "jwt", users=args.users
        )
        files = {
            "one_guild": seed.write_targets(seeded.one_guild, work / "one_guild.txt"),
            "many_guilds": seed.write_targets(seeded.many_guilds, work / "many_guilds.txt"),
        }
        watched = platform_setup.watched_pids(running)
        runs["_postgres"] = [await platform_setup.postgres_settings(pg)]

        def once(key: str, mode: str, targets: str, connections: int, seconds: float) -> None:
            spec = load.Load(mode, connections, seconds, args.max_requests)
            result = load.run(spec, base_url=api, targets_file=files[targets], watched=watched)
            runs.setdefault(key, []).append(result)
            cores = result["cpu_cores"]
            say(
                f"{key:<32} {result['requests_per_second']:>8.1f}/s "
                f"p50 {result['p50_us'] / 1000:6.2f} ms p99 {result['p99_us'] / 1000:7.2f} ms | "
                f"cores api {cores['api']:.2f} pg {cores['postgres']:.2f} "
                f"wrk {cores['wrk']:.2f} elsewhere {cores['elsewhere']:.2f}"
            )

        for mode, targets in SCENARIOS:
            once("_warmup", mode, targets, 8, args.warmup)
        for mode, targets in SCENARIOS:
            for connections in args.connections:
                once(f"{mode}/{targets}/c{connections}", mode, targets, connections, args.seconds)
        if fsync_pairs:
            # Paired on/off in the same minute: the difference is what the commit's fsync costs.
            for on in (False, True):
                await platform_setup.set_synchronous_commit(running, on=on)
                await asyncio.sleep(0.5)
                for targets in ("one_guild", "many_guilds"):
                    for connections in (1, max(args.connections)):
                        key = f"sync_{'on' if on else 'off'}/send/{targets}/c{connections}"
                        once(key, "send", targets, connections, args.seconds)
    finally:
        platform_setup.stop(running)
    runs.pop("_warmup", None)
    return runs


async def main(args: argparse.Namespace) -> Path:
    load.ensure_wrk()
    compared = [variants.working_tree()]
    if args.baseline_ref:
        compared.insert(0, variants.at_commit(args.baseline_ref))
    by_variant: dict[str, dict[str, list[dict[str, Any]]]] = {v.name: {} for v in compared}
    machine = platform_setup.machine(Path(tempfile.gettempdir()))
    for repetition in range(args.repeats):
        for variant in compared:
            say(f"repetition {repetition + 1}/{args.repeats}, {variant.name}")
            got = await measure_variant(variant, args=args, fsync_pairs=args.fsync_pairs)
            for key, value in got.items():
                by_variant[variant.name].setdefault(key, []).extend(value)
    result = {
        "benchmark": "api",
        "label": args.label,
        "started": args.started,
        "machine": machine,
        "api_pool_max": args.pool_max or "default (config pg_pool_max)",
        "load_generator": "wrk 4.1, 1 thread, Lua script bench/api/load.lua",
        "services": list(platform_setup.SERVICES),
        "shape": {
            "repeats": args.repeats,
            "seconds_per_run": args.seconds,
            "max_requests_per_run": args.max_requests,
            "users": args.users,
            "history_limit": 50,
        },
        "variants": {
            v.name: {
                "commit": v.commit,
                "postgres": by_variant[v.name].pop("_postgres")[0],
                "summary": {k: _summary(r) for k, r in by_variant[v.name].items()},
                "runs": by_variant[v.name],
            }
            for v in compared
        },
    }
    if args.baseline_ref:
        result["ratios_working_tree_over_baseline"] = _ratios(result["variants"], compared)
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"api-{args.started[:10]}" + (f"-{args.label}" if args.label else "")
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    figure.draw(result, RESULTS / f"{name}.png")
    say(f"wrote {out} and {out.with_suffix('.png')}")
    return out


def _ratios(measured: dict[str, Any], compared: list[variants.Variant]) -> dict[str, Any]:
    """Per scenario: median requests/s and p50 of the working tree over the baseline's."""
    base, new = measured[compared[0].name]["summary"], measured[compared[1].name]["summary"]
    return {
        key: {
            "requests_per_second": round(
                new[key]["requests_per_second"]["median"]
                / base[key]["requests_per_second"]["median"],
                3,
            ),
            "p50": round(new[key]["p50_us"]["median"] / base[key]["p50_us"]["median"], 3),
            "api_cpu_us_per_request": round(
                new[key]["cpu_us_per_request_median"]["api"]
                / base[key]["cpu_us_per_request_median"]["api"],
                3,
            ),
        }
        for key in new
        if key in base
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="1 repetition of 2 s loads")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0, help="time bound of each load")
    parser.add_argument("--max-requests", type=int, default=30_000, help="count bound of each load")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--connections", default="1,8,32")
    parser.add_argument("--users", type=int, default=32, help="members of the shared guild; guilds")
    parser.add_argument("--pool-max", type=int, default=None, help="GOCHAT_PG_POOL_MAX for the api")
    parser.add_argument("--no-fsync-pairs", dest="fsync_pairs", action="store_false")
    parser.add_argument("--label", default="", help="suffix of the result file names")
    parser.add_argument(
        "--baseline-ref", default="", help="also measure apps/gochat at this commit"
    )
    args = parser.parse_args(argv)
    args.connections = [int(c) for c in args.connections.split(",")]
    if args.smoke:
        args.repeats, args.seconds, args.warmup = 1, 2.0, 1.0
    args.started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return args


if __name__ == "__main__":
    arguments = parse()
    if arguments.pool_max:
        os.environ["GOCHAT_PG_POOL_MAX"] = str(arguments.pool_max)
    started = time.monotonic()
    asyncio.run(main(arguments))
    say(f"done in {time.monotonic() - started:.0f} s")
