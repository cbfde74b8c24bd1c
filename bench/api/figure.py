"""The benchmark's figure: throughput, latency and CPU split per scenario, connection count and
code variant (solid: the last variant measured; dotted, dash-dotted, dashed: the earlier ones)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

_SCENARIOS = ("send/one_guild", "send/many_guilds", "history/one_guild")
_COLOURS = dict(zip(_SCENARIOS, ("tab:blue", "tab:orange", "tab:green"), strict=True))
_PROCESSES = ("api", "postgres", "wrk", "nats", "auth", "elsewhere")


def _counts(summary: dict[str, Any], scenario: str) -> list[int]:
    prefix = f"{scenario}/c"
    return sorted(int(k[len(prefix) :]) for k in summary if k.startswith(prefix))


def _lines(axes: Any, summary: dict[str, Any], *, style: str, suffix: str) -> None:
    rate, p50, p99, api_cpu, pg_cpu = axes
    for scenario in _SCENARIOS:
        counts = _counts(summary, scenario)
        rows = [summary[f"{scenario}/c{c}"] for c in counts]
        medians = [r["requests_per_second"]["median"] for r in rows]
        spread = [
            [m - r["requests_per_second"]["min"] for m, r in zip(medians, rows, strict=True)],
            [r["requests_per_second"]["max"] - m for m, r in zip(medians, rows, strict=True)],
        ]
        colour, label = _COLOURS[scenario], f"{scenario}{suffix}"
        rate.errorbar(counts, medians, yerr=spread, ls=style, color=colour, marker="o",
                      capsize=3, label=label)  # fmt: skip
        for axis, key in ((p50, "p50_us"), (p99, "p99_us")):
            values = [r[key]["median"] / 1000 for r in rows]
            axis.plot(counts, values, ls=style, color=colour, marker="o", label=label)
        for axis, process in ((api_cpu, "api"), (pg_cpu, "postgres")):
            values = [r["cpu_us_per_request_median"][process] for r in rows]
            axis.plot(counts, values, ls=style, color=colour, marker="o", label=label)


def draw(result: dict[str, Any], path: Path) -> None:
    fig, axes = plt.subplots(2, 3, figsize=(18, 10))
    (rate, p50, p99), (api_cpu, pg_cpu, cpu) = axes
    names = list(result["variants"])
    # The last variant solid, the earlier ones cycling through the other styles.
    earlier = [(":", "-.", "--")[i % 3] for i in range(len(names) - 1)]
    styles = [*earlier, "-"]
    for name, style in zip(names, styles, strict=True):
        suffix = "" if len(names) == 1 else f" ({name})"
        _lines((rate, p50, p99, api_cpu, pg_cpu), result["variants"][name]["summary"],
               style=style, suffix=suffix)  # fmt: skip
    rate.set(ylabel="requests/s (median; bars: min-max of runs)", title="Throughput")
    p50.set(yscale="log", ylabel="ms (median of runs)", title="Latency p50")
    p99.set(yscale="log", ylabel="ms (median of runs)", title="Latency p99")
    api_cpu.set(ylabel="µs (median of runs)", title="API process CPU per request (steadiest)")
    undercounted = any(
        run["cpu_seconds"]["postgres"] < 0
        for variant in result["variants"].values()
        for runs in variant["runs"].values()
        for run in runs
    )
    pg_title = "PostgreSQL CPU per request" + (
        "\nNOT RELIABLE here: backends exited mid-load (fixed in cpu.py since)"
        if undercounted
        else ""
    )
    pg_cpu.set(ylabel="µs (median of runs)", title=pg_title)
    for axis in (api_cpu, pg_cpu):
        axis.set_ylim(bottom=0)
    for axis in (rate, p50, p99, api_cpu, pg_cpu):
        axis.set_xscale("log")
        axis.set_xlabel("connections")
        axis.set_xticks([1, 8, 32], labels=["1", "8", "32"])
        axis.grid(alpha=0.3)
    rate.legend(fontsize=6)
    summary = result["variants"][names[-1]]["summary"]
    top = max(c for s in _SCENARIOS for c in _counts(summary, s))
    bars = [(f"{s}\n{n[:12]}", result["variants"][n]["summary"][f"{s}/c{top}"]["cpu_cores_median"])
            for s in _SCENARIOS for n in names]  # fmt: skip
    bottoms = [0.0] * len(bars)
    for process in _PROCESSES:
        values = [max(0.0, b.get(process, 0.0)) for _, b in bars]
        cpu.bar(range(len(bars)), values, bottom=bottoms, label=process)
        bottoms = [x + y for x, y in zip(bottoms, values, strict=True)]
    cpu.set_xticks(range(len(bars)), labels=[label for label, _ in bars], fontsize=6, rotation=90)
    cpu.axhline(result["machine"]["nproc"], color="k", lw=0.8, ls=":")
    cpu.set(ylabel="cores busy (median)", title=f"CPU split at {top} connections")
    cpu.legend(fontsize=7)
    fig.suptitle(
        f"GoChat REST API, {result['started'][:10]}, {result['machine']['nproc']} cores "
        f"({result['machine']['cpu_model']}), wrk, median of {result['shape']['repeats']} runs"
        + (f", {result['label']}" if result["label"] else ""),
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
