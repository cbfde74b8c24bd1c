"""The REST API benchmark: sends (one guild, many guilds) and history reads at 1, 8 and 32
connections, each a bounded wrk load against the platform started as `make dev` starts it.

    .venv/bin/python -m bench.api.run                     # 3 repetitions (~8 min)
    .venv/bin/python -m bench.api.run --smoke             # 1 repetition, short loads (~1 min)
    .venv/bin/python -m bench.api.run --baseline-ref HEAD~2 --no-fsync-pairs --label ab
                                                          # that commit vs the working tree
    .venv/bin/python -m bench.api.run --baseline-ref HEAD --candidate a=a.diff \\
        --candidate ab=a.diff,b.diff                      # each change's increment, one run
    .venv/bin/python -m bench.api.run --at asyncio=abc123,GOCHAT_EVENT_LOOP=asyncio \\
        --at uvloop=abc123 --at two=def456,GOCHAT_WORKERS=2   # commits and settings, one run

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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.api import figure, load, platform_setup, seed, variants
from gochat import dev

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


@dataclass
class Prepared:
    """One variant's platform, up and seeded, and what its loads have measured so far."""

    variant: variants.Variant
    running: dev.DevPlatform
    files: dict[str, Path]
    watched: dict[str, tuple[int, bool]]
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def once(self, key: str, spec: load.Load) -> None:
        result = load.run(
            spec, base_url=self.running.urls["api"], targets_file=self.files[spec.targets],
            watched=self.watched,
        )  # fmt: skip
        self.runs.setdefault(key, []).append(result)
        cores = result["cpu_cores"]
        say(
            f"{self.variant.name[:24]:<24} {key:<30} {result['requests_per_second']:>7.1f}/s "
            f"p50 {result['p50_us'] / 1000:6.2f} ms p99 {result['p99_us'] / 1000:7.2f} ms | "
            f"cores api {cores['api']:.2f} pg {cores['postgres']:.2f} "
            f"wrk {cores['wrk']:.2f} elsewhere {cores['elsewhere']:.2f}"
        )


async def prepare(variant: variants.Variant, *, users: int) -> Prepared:
    work = Path(tempfile.mkdtemp(prefix="gochat-bench-api-run-"))
    say(f"{variant.name}: starting the platform (log: {work / 'platform.log'})")
    running = platform_setup.start(log_path=work / "platform.log", api_command=variant.api_command)
    try:
        api, pg = running.urls["api"], running.pg_dsn or ""
        seeded = await seed.seed(api_url=api, dsn=pg, keys_dir=running.root / "jwt", users=users)
        files = {
            "one_guild": seed.write_targets(seeded.one_guild, work / "one_guild.txt"),
            "many_guilds": seed.write_targets(seeded.many_guilds, work / "many_guilds.txt"),
        }
        return Prepared(variant, running, files, platform_setup.watched_pids(running))
    except BaseException:
        platform_setup.stop(running)
        raise


async def measure(prepared: list[Prepared], *, args: argparse.Namespace) -> None:
    """Every variant's platform stays up; each load runs on one variant right after another, so
    variants compared are measured seconds apart, not minutes (the machine drifts in minutes)."""

    def each(key: str, spec: load.Load) -> None:
        for one in prepared:
            one.once(key, spec)

    for mode, targets in SCENARIOS:
        each("_warmup", load.Load(mode, targets, 8, args.warmup, args.max_requests))
    for repetition in range(args.repeats):
        say(f"repetition {repetition + 1}/{args.repeats}")
        for mode, targets in SCENARIOS:
            for connections in args.connections:
                spec = load.Load(mode, targets, connections, args.seconds, args.max_requests)
                each(f"{mode}/{targets}/c{connections}", spec)
        if args.fsync_pairs:
            # synchronous_commit off and on in the same minute: the difference is the fsync.
            for on in (False, True):
                for one in prepared:
                    await platform_setup.set_synchronous_commit(one.running, on=on)
                await asyncio.sleep(0.5)
                for targets in ("one_guild", "many_guilds"):
                    for connections in (1, max(args.connections)):
                        spec = load.Load(
                            "send", targets, connections, args.seconds, args.max_requests
                        )
                        each(f"sync_{'on' if on else 'off'}/send/{targets}/c{connections}", spec)
    for one in prepared:
        one.runs.pop("_warmup", None)


async def main(args: argparse.Namespace) -> Path:
    load.ensure_wrk()
    compared = [variants.working_tree()]
    if args.at:
        compared = [variants.parse_at(text) for text in args.at]
    elif args.baseline_ref:
        candidates = [variants.parse_candidate(c, ref=args.baseline_ref) for c in args.candidate]
        compared = [variants.at_commit(args.baseline_ref), *(candidates or compared)]
    machine = platform_setup.machine(Path(tempfile.gettempdir()))
    prepared: list[Prepared] = []
    try:
        for variant in compared:
            prepared.append(await prepare(variant, users=args.users))
        settings = await platform_setup.postgres_settings(prepared[0].running.pg_dsn or "")
        await measure(prepared, args=args)
    finally:
        for one in prepared:
            platform_setup.stop(one.running)
    by_variant = {one.variant.name: one.runs for one in prepared}
    result = {
        "benchmark": "api",
        "label": args.label,
        "started": args.started,
        "machine": machine,
        "api_pool_max": args.pool_max or "default (config pg_pool_max)",
        "load_generator": "wrk 4.1, 1 thread, Lua script bench/api/load.lua",
        "services": list(platform_setup.SERVICES),
        "postgres": settings,
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
                "summary": {k: _summary(r) for k, r in by_variant[v.name].items()},
                "runs": by_variant[v.name],
            }
            for v in compared
        },
    }
    if len(compared) > 1:
        result["ratios_over_baseline"] = {
            v.name: _ratios(result["variants"], baseline=compared[0], candidate=v)
            for v in compared[1:]
        }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"api-{args.started[:10]}" + (f"-{args.label}" if args.label else "")
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    figure.draw(result, RESULTS / f"{name}.png")
    say(f"wrote {out} and {out.with_suffix('.png')}")
    return out


def _ratios(
    measured: dict[str, Any], *, baseline: variants.Variant, candidate: variants.Variant
) -> dict[str, Any]:
    """Per scenario: the candidate's medians over the baseline's (requests/s, p50, API CPU)."""
    base, new = measured[baseline.name]["summary"], measured[candidate.name]["summary"]
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
    parser.add_argument(
        "--candidate",
        action="append",
        default=[],
        help="NAME=PATCH[,PATCH]: the baseline ref with these patches (repeatable); "
        "default: the working tree",
    )
    parser.add_argument(
        "--at",
        action="append",
        default=[],
        help="NAME=REF[,KEY=VALUE...]: measure apps/gochat at commit REF with these settings "
        "of the API (repeatable; the first is the baseline of the ratios)",
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
