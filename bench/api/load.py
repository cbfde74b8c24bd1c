"""One bounded load: wrk against the API on 127.0.0.1, with the CPU each process spent."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.api import cpu

LUA_SCRIPT = Path(__file__).with_name("load.lua")
_MARKER = "BENCH_JSON "


@dataclass(frozen=True)
class Load:
    mode: str  # "send" or "history"
    targets: str  # "one_guild" or "many_guilds"
    connections: int
    seconds: float  # time bound (wrk takes whole seconds)
    max_requests: int  # count bound (per wrk thread; one thread here)


def ensure_wrk() -> str:
    """wrk from Debian, installed on first use (the benchmark's own setup step)."""
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not on PATH after apt-get install wrk")
    return found


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(
    load: Load,
    *,
    base_url: str,
    targets_file: Path,
    watched: Mapping[str, tuple[int, bool]],
    history_limit: int = 50,
) -> dict[str, Any]:
    """wrk's figures (latency in µs) plus `cpu_seconds` per watched process and for wrk."""
    if not base_url.startswith("http://127.0.0.1:"):
        raise ValueError(f"the benchmark only loads 127.0.0.1, not {base_url}")
    env = {
        **os.environ,
        "BENCH_TARGETS": str(targets_file),
        "BENCH_MODE": load.mode,
        "BENCH_MAX": str(load.max_requests),
        "BENCH_LIMIT": str(history_limit),
    }
    # One wrk thread: ~10 µs of wrk CPU per request is far below what one API process serves.
    command = [
        ensure_wrk(), "-t1", f"-c{load.connections}", f"-d{round(load.seconds)}s",
        "--timeout", "10s", "-s", str(LUA_SCRIPT), f"{base_url}/",
    ]  # fmt: skip
    before, wrk_before = cpu.snapshot(watched), _children_cpu_seconds()
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=load.seconds + 60
    )
    seconds = cpu.delta(before, cpu.snapshot(watched))
    seconds["wrk"] = round(_children_cpu_seconds() - wrk_before, 3)
    # Everything else on the shared machine (other benchmarks, the kernel's own work).
    seconds["elsewhere"] = round(seconds.pop("machine") - sum(seconds.values()), 3)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-2000:]}")
    line = next((x for x in done.stdout.splitlines() if x.startswith(_MARKER)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(line[len(_MARKER) :])
    elapsed = figures["duration_us"] / 1e6
    figures["requests_per_second"] = round(figures["requests"] / elapsed, 1)
    figures["cpu_seconds"] = seconds
    figures["cpu_cores"] = {name: round(s / elapsed, 3) for name, s in seconds.items()}
    figures["cpu_us_per_request"] = {
        name: round(s * 1e6 / max(figures["requests"], 1), 1) for name, s in seconds.items()
    }
    figures["stderr"] = done.stderr.strip()[-500:]
    return figures
