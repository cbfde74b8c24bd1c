"""Results: the JSON document (machine, loads, every run, medians and ratios to the anchor),
the figures, and a plain-text table for the terminal and the README."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import figures
import pinned
import scenarios

# (figure name, scenario, load or None, path into a run, better when "lower"/"higher", target)
METRICS: list[tuple[str, str, str | None, tuple[str, ...], str, str]] = [
    ("connections held", "idle", None, ("held",), "higher", "gochat >= 10,000"),
    (
        "RSS per idle connection (bytes)",
        "idle",
        None,
        ("rss_per_connection",),
        "lower",
        "ratio <= 0.5",
    ),
    ("fan-out deliveries/s", "fanout", "fanout", ("deliveries_per_s",), "higher", "ratio >= 0.5"),
    (
        "JetStream->client p50 (ms) @1k/s",
        "latency",
        "latency-jetstream",
        ("latency", "p50_ms"),
        "lower",
        "",
    ),
    (
        "JetStream->client p99 (ms) @1k/s",
        "latency",
        "latency-jetstream",
        ("latency", "p99_ms"),
        "lower",
        "gochat < 100 ms",
    ),
    (
        "JetStream->client max (ms) @1k/s",
        "latency",
        "latency-jetstream",
        ("latency", "max_ms"),
        "lower",
        "",
    ),
    ("API->client p50 (ms) @1k/s", "latency", "latency-api", ("latency", "p50_ms"), "lower", ""),
    (
        "API->client p99 (ms) @1k/s",
        "latency",
        "latency-api",
        ("latency", "p99_ms"),
        "lower",
        "gochat < 100 ms",
    ),
    ("API->client max (ms) @1k/s", "latency", "latency-api", ("latency", "max_ms"), "lower", ""),
    ("API messages/s achieved", "latency", "latency-api", ("sent_per_s",), "higher", "1,000"),
    # Where the two cores go at 1,000 sends/s (CPU us per message sent; machine: busy cores).
    *[
        (
            f"{who} CPU us per send @1k/s",
            "latency",
            "latency-api",
            ("cpu_per_send", who),
            "lower",
            "",
        )
        for who in ("api", "postgres", "nats", "loadgen")
    ],
    ("machine busy cores @1k/s via API", "latency", "latency-api", ("busy_cores",), "lower", ""),
    (
        "API->client p50 (ms) @100/s",
        "latency",
        "latency-api-100",
        ("latency", "p50_ms"),
        "lower",
        "",
    ),
    (
        "API->client p99 (ms) @100/s",
        "latency",
        "latency-api-100",
        ("latency", "p99_ms"),
        "lower",
        "",
    ),
    (
        "API->client max (ms) @100/s",
        "latency",
        "latency-api-100",
        ("latency", "max_ms"),
        "lower",
        "",
    ),
    (
        "gateway CPU us per fan-out delivery",
        "fanout",
        "fanout",
        ("cpu_us_per_delivery",),
        "lower",
        "",
    ),
]


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    go = subprocess.run(["go", "version"], capture_output=True, text=True, check=False)
    free = subprocess.run(["free", "-h"], capture_output=True, text=True, check=False)
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "free_h": free.stdout.strip(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "go": go.stdout.strip(),
        "picows": metadata.version("picows"),
        "centrifuge": "v0.40.1",
    }


def _value(run: dict[str, Any], load: str | None, path: tuple[str, ...]) -> float | None:
    node: Any = run if load is None else run.get("loads", {}).get(load)
    if node is not None and path == ("sent_per_s",):
        seconds = node["publish"]["seconds"]
        return node["publish"]["published"] / seconds if seconds else None
    if node is not None and path[0] == "cpu_per_send" and "cpu_seconds" in node:
        sent = node["publish"]["published"]
        return node["cpu_seconds"][path[1]] / sent * 1e6 if sent else None
    if node is not None and path == ("busy_cores",) and "cpu_seconds" in node:
        seconds = node["publish"]["seconds"]
        return node["cpu_seconds"]["machine"] / seconds if seconds else None
    if node is not None and path == ("cpu_us_per_delivery",):
        cpu, delivered = node.get("target_cpu_seconds"), node["delivered"]
        return cpu / delivered * 1e6 if cpu is not None and delivered else None
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return float(node)


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for name, scenario, load, path, better, goal in METRICS:
        row: dict[str, Any] = {"metric": name, "better": better, "target": goal}
        for target in ("gochat", "anchor"):
            values = [
                v
                for r in runs
                if r["scenario"] == scenario and r["target"] == target
                if (v := _value(r, load, path)) is not None
            ]
            row[target] = {
                "median": statistics.median(values) if values else None,
                "min": min(values, default=None),
                "max": max(values, default=None),
                "runs": values,
            }
        g, a = row["gochat"]["median"], row["anchor"]["median"]
        row["ratio"] = g / a if g is not None and a else None
        rows.append(row)
    return rows


def document(
    *,
    runs: list[dict[str, Any]],
    plan: list[scenarios.Scenario],
    smoke: bool,
    gateways: int,
    api_workers: int,
    seconds: float,
    warm_up: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "benchmark": "gateway (bench/ws)",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "smoke": smoke,
        "machine": machine(),
        "platform_code": pinned.describe(),
        "gateway_processes": gateways,
        "api_processes": api_workers,
        "anchor": "github.com/centrifugal/centrifuge v0.40.1, GOMAXPROCS=2, one process",
        "scenarios": [
            {
                "name": s.name,
                "clients": s.clients,
                "channels": s.channels,
                "hold_s": s.hold_s,
                "loads": [vars(load) for load in s.loads],
            }
            for s in plan
        ],
        "seconds": round(seconds, 1),
        # Sends through the API before the first measured load (seed.warm_up_api).
        "api_warm_up": warm_up,
        "summary": summarize(runs),
        "runs": runs,
    }


def table(doc: dict[str, Any]) -> str:
    def fmt(value: float | None) -> str:
        if value is None:
            return "-"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"

    lines = [
        "| metric | GoChat gateway (median) | centrifuge anchor (median) | ratio | target |",
        "|---|---|---|---|---|",
    ]
    for row in doc["summary"]:
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}"
        lines.append(
            f"| {row['metric']} | {fmt(row['gochat']['median'])} | "
            f"{fmt(row['anchor']['median'])} | {ratio} | {row['target']} |"
        )
    return "\n".join(lines)


def sane(doc: dict[str, Any]) -> bool:
    """Every run connected its clients, delivered everything it was expected to, and every
    target process was still alive at the end: the numbers describe a working system."""
    for run in doc["runs"]:
        if run.get("connect_failed") or not run.get("alive_at_end", False):
            return False
        for outcome in run["loads"].values():
            if outcome["delivered"] < outcome["expected_deliveries"]:
                return False
    return bool(doc["runs"])


def write(doc: dict[str, Any], *, out: Path, smoke: bool) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    stem = f"ws-{'smoke-' if smoke else ''}{datetime.now(UTC):%Y-%m-%d}"
    path = out / f"{stem}.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return [path, *figures.draw(doc, out=out, stem=stem)]
