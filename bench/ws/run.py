"""The gateway benchmark: the GoChat gateway and a centrifuge anchor under the same loads, in
the same run, interleaved; JSON results and figures in bench/results/.

    .venv/bin/python bench/ws/run.py              # full: 3 interleaved repetitions (~15 min)
    .venv/bin/python bench/ws/run.py --smoke      # tiny shapes, 1 repetition, < 60 s warm

See bench/README.md for what each figure means and scenarios.py for the loads.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gobuild
import load
import pinned
import probe_gateway
import report
import scenarios
import seed
import targets

from gochat.adapters.postgres.database import Database

sys.path.append(str(pinned.REPO))  # a script's path holds bench/ws only; cpu is bench.api's
from bench.api import cpu

RESULTS = Path(__file__).resolve().parents[1] / "results"


def raise_open_files_limit() -> int:
    """10,000 connections need more than the usual 1,024 descriptors (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1_048_576
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def say(text: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {text}", flush=True)


def run_target(
    *, target: str, scenario: scenarios.Scenario, shape: seed.Shape, ctx: dict[str, Any]
) -> dict[str, Any]:
    """Fresh target processes, K connections, RSS idle, then each load; one result dict."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"{scenario.name}-{target}-", dir=ctx["root"]))
    platform = ctx["platform"]
    if target == "gochat":
        env = {"GOCHAT_DRAIN_WINDOW_SECONDS": "1", "GOCHAT_LOG_LEVEL": "warning"}
        if ctx.get("tracemalloc"):
            env["PYTHONTRACEMALLOC"] = "1"
        if ctx.get("gc_freeze"):
            env[probe_gateway.FREEZE] = "1"
        servers = targets.start_gateways(
            platform,
            count=ctx["gateways"],
            run_dir=run_dir,
            env=env,
            profile_dir=ctx.get("profile_dir"),
            cprofile=ctx.get("cprofile", False),
        )
    else:
        servers = targets.start_anchor(
            ctx["binaries"]["anchor"], nats_url=platform.nats_url, run_dir=run_dir
        )
    result: dict[str, Any] = {"target": target, "scenario": scenario.name, "loads": {}}
    result["load_average_start"] = os.getloadavg()
    generator = None
    try:
        time.sleep(1.0)
        rss_before = servers.rss_bytes()
        config = load.loadgen_config(target=target, url=servers.url, shape=shape)
        generator = load.LoadGen(ctx["binaries"]["loadgen"], config, run_dir=run_dir)
        connected = generator.next_event(timeout=900)
        if connected["connected"] == 0:
            raise RuntimeError(f"{target}: no client connected: {connected['errors']}")
        time.sleep(scenario.hold_s)
        rss_after = servers.rss_bytes()
        if target == "gochat" and "profile_dir" in ctx:
            servers.signal(signal.SIGUSR1)  # probe_gateway.py: GC pauses, allocations so far
        held = generator.command({"cmd": "status"}, timeout=30)["open"]
        result.update(
            clients=scenario.clients,
            channels=scenario.channels,
            connected=connected["connected"],
            connect_failed=connected["failed"],
            connect_errors=connected["errors"],
            connect_seconds=connected["seconds"],
            held=held,
            hold_s=scenario.hold_s,
            rss_before=rss_before,
            rss_after=rss_after,
            rss_per_connection=(rss_after - rss_before) / max(1, held),
            processes=len(servers.children),
        )
        say(
            f"  {target}: {held}/{scenario.clients} held after {connected['seconds']:.1f} s, "
            f"{result['rss_per_connection'] / 1024:.1f} KiB/conn"
        )
        for spec in scenario.loads:
            if target not in spec.targets:
                continue
            publish = {
                "mode": spec.mode,
                "count": spec.count,
                "rate": spec.rate,
                "max_seconds": spec.max_seconds,
                "max_inflight": spec.max_inflight,
                "nats_url": platform.nats_url,
                "api_base": platform.urls["api"],
            }
            pids = process_pids(platform, servers, generator)
            cpu_before, target_before = cpu.snapshot(pids), servers.cpu_seconds()
            outcome = generator.command({"cmd": "publish", "publish": publish}, timeout=900)
            outcome.pop("event", None)
            outcome["target_cpu_seconds"] = servers.cpu_seconds() - target_before
            outcome["cpu_seconds"] = cpu.delta(cpu_before, cpu.snapshot(pids))
            result["loads"][spec.name] = outcome
            lat = outcome["latency"]
            say(
                f"  {target} {spec.name}: {outcome['delivered']}/{outcome['expected_deliveries']}"
                f" delivered, {outcome['deliveries_per_s']:.0f}/s, p50 {lat['p50_ms']:.1f} ms,"
                f" p99 {lat['p99_ms']:.1f} ms, max {lat['max_ms']:.1f} ms"
            )
        result["alive_at_end"] = servers.alive()
    finally:
        if generator is not None:
            generator.close()
        servers.stop()
        result["load_average_end"] = os.getloadavg()
    return result


def process_pids(
    platform: Any, servers: targets.Servers, generator: load.LoadGen
) -> dict[str, tuple[int, bool]]:
    """Whose CPU a load's result splits out (name -> pid, with its children): with the
    machine's total it shows where the two cores went, e.g. when the API path queues."""
    pids = {
        "api": (platform.children["api"].pid, True),  # with --workers: the workers' parent
        "postgres": (platform.postgres.pid, True),  # the postmaster and its backends
        "nats": (platform.nats.pid, False),
        "loadgen": (generator.pid, False),
    }
    pids.update(
        (f"{servers.name}-{i}", (child.pid, False)) for i, child in enumerate(servers.children)
    )
    return pids


def warm_up_api(
    ctx: dict[str, Any], plan: list[scenarios.Scenario], shapes: dict[str, Any]
) -> dict[str, Any] | None:
    """Serve some sends through the API before the first measured API load (seed.warm_up_api)."""
    for scenario in plan:
        if any(spec.mode == "api" for spec in scenario.loads):
            say("warming the API up")
            outcome = asyncio.run(
                seed.warm_up_api(
                    ctx["platform"].urls["api"],
                    shapes[scenario.name],
                    sends=50 * scenario.channels,
                    clients=16,
                )
            )
            say(f"  warm-up: {outcome}")
            return outcome
    return None


async def create_shapes(ctx: dict[str, Any], plan: list[scenarios.Scenario]) -> dict[str, Any]:
    platform = ctx["platform"]
    db = await Database.connect(platform.pg_dsn, service="bench", max_size=2)
    try:
        return {
            s.name: await seed.create_shape(
                name=s.name,
                clients=s.clients,
                channels=s.channels,
                db=db,
                keys_dir=platform.root / "jwt",
                api_url=platform.urls["api"],
            )
            for s in plan
        }
    finally:
        await db.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny loads, one repetition")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repetitions")
    parser.add_argument("--gateways", type=int, default=2, help="gateway processes (one port)")
    parser.add_argument(
        "--api-workers", type=int, default=2, help="API processes (one port) for the API loads"
    )
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--profile", type=Path, default=None, help="run the gateways under cProfile, .prof here"
    )
    parser.add_argument(
        "--code", default="HEAD", help='commit whose apps/ is measured, or "worktree"'
    )
    parser.add_argument("--no-api", action="store_true", help="skip the loads sent via the API")
    parser.add_argument("--idle-clients", type=int, default=0, help="K of the idle scenario")
    parser.add_argument(
        "--probe", type=Path, default=None, help="GC pauses of the gateways (no cProfile), here"
    )
    parser.add_argument(
        "--gc-freeze", action="store_true", help="with --probe: gc.freeze() after start-up"
    )
    parser.add_argument(
        "--tracemalloc", action="store_true", help="with --profile: trace allocations too"
    )
    args = parser.parse_args(argv)
    pinned.reexec_pinned(args.code, argv)
    plan = scenarios.smoke() if args.smoke else scenarios.full()
    if args.only:
        plan = [s for s in plan if s.name in args.only.split(",")]
    if args.no_api:
        plan = [dataclasses.replace(s, loads=[x for x in s.loads if x.mode != "api"]) for s in plan]
    if args.idle_clients:
        plan = [
            dataclasses.replace(s, clients=args.idle_clients) if s.name == "idle" else s
            for s in plan
        ]
    repeats = args.repeats or (1 if args.smoke else 3)
    if not 1 <= repeats <= 10 or not 1 <= args.gateways <= 8 or not 1 <= args.api_workers <= 8:
        parser.error("--repeats must be 1-10, --gateways and --api-workers 1-8")
    limit = raise_open_files_limit()
    say(f"open-files limit {limit}; platform code: {pinned.describe()}; building the Go parts")
    ctx: dict[str, Any] = {"binaries": gobuild.build(log=say), "gateways": args.gateways}
    if args.profile is not None or args.probe is not None:
        folder = args.profile or args.probe
        folder.mkdir(parents=True, exist_ok=True)
        ctx.update(
            profile_dir=folder.resolve(),
            cprofile=args.profile is not None,
            tracemalloc=args.tracemalloc,
            gc_freeze=args.gc_freeze,
        )
    ctx["root"] = Path(tempfile.mkdtemp(prefix="gochat-bench-ws-"))
    started = time.monotonic()
    runs: list[dict[str, Any]] = []
    warm_up = None
    try:
        say(f"starting the platform in {ctx['root']}")
        ctx["platform"] = targets.start_platform(ctx["root"], api_workers=args.api_workers)
        say("creating users and guilds")
        shapes = asyncio.run(create_shapes(ctx, plan))
        warm_up = warm_up_api(ctx, plan, shapes)
        for rep in range(repeats):
            for scenario in plan:
                order = ["anchor", "gochat"] if rep % 2 == 0 else ["gochat", "anchor"]
                say(
                    f"repetition {rep + 1}/{repeats}, {scenario.name} "
                    f"(K={scenario.clients}, M={scenario.channels}), order {order}"
                )
                for target in order:
                    outcome = run_target(
                        target=target, scenario=scenario, shape=shapes[scenario.name], ctx=ctx
                    )
                    runs.append({"repetition": rep + 1, **outcome})
    except BaseException:
        say(f"failed; logs kept in {ctx['root']}")
        raise
    else:
        shutil.rmtree(ctx["root"], ignore_errors=True)
    finally:
        if "platform" in ctx:
            ctx["platform"].stop()
    document = report.document(
        runs=runs,
        plan=plan,
        smoke=args.smoke,
        gateways=args.gateways,
        api_workers=args.api_workers,
        seconds=time.monotonic() - started,
        warm_up=warm_up,
    )
    paths = report.write(document, out=args.out, smoke=args.smoke)
    say("wrote " + ", ".join(str(p) for p in paths))
    print(report.table(document))
    return 0 if report.sane(document) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
