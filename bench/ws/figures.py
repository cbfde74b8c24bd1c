"""The benchmark's figures (matplotlib, headless): medians with min-max whiskers per target,
and delivery timelines of the fan-out runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after choosing the headless backend

COLORS = {"gochat": "#3b7dd8", "anchor": "#999999"}
LABELS = {"gochat": "GoChat gateway", "anchor": "centrifuge anchor"}


def _row(doc: dict[str, Any], metric: str) -> dict[str, Any]:
    return next(r for r in doc["summary"] if r["metric"] == metric)


def _bars(ax: Any, doc: dict[str, Any], metric: str, *, scale: float = 1.0) -> None:
    row = _row(doc, metric)
    for i, target in enumerate(("gochat", "anchor")):
        cell = row[target]
        if cell["median"] is None:
            continue
        median = cell["median"] / scale
        err = [[median - cell["min"] / scale], [cell["max"] / scale - median]]
        ax.bar(i, median, color=COLORS[target], yerr=err, capsize=4)
        ax.text(i, median, f"{median:,.1f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks([0, 1], [LABELS["gochat"], LABELS["anchor"]], fontsize=8)
    if row["ratio"] is not None:
        ax.set_title(f"{metric}\nratio {row['ratio']:.2f} (target {row['target']})", fontsize=9)


def summary_figure(doc: dict[str, Any], path: Path) -> None:
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.5), width_ratios=[1, 1, 1, 1.6])
    _bars(axes[0], doc, "fan-out deliveries/s", scale=1000)
    axes[0].set_ylabel("thousand deliveries/s")
    _bars(axes[1], doc, "RSS per idle connection (bytes)", scale=1024)
    axes[1].set_ylabel("KiB per connection")
    _bars(axes[2], doc, "connections held")
    latency = axes[3]
    groups = [
        ("anchor", "JetStream", "1k"),
        ("gochat", "JetStream", "1k"),
        ("gochat", "API", "1k"),
        ("gochat", "API", "100"),
    ]
    for i, (target, path_name, rate) in enumerate(groups):
        for j, quantile in enumerate(("p50", "p99", "max")):
            row = _row(doc, f"{path_name}->client {quantile} (ms) @{rate}/s")
            value = row[target]["median"]
            if value is not None:
                latency.bar(
                    i + (j - 1) * 0.27,
                    value,
                    width=0.25,
                    color=COLORS[target],
                    alpha=(0.45, 0.75, 1.0)[j],
                )
                latency.text(
                    i + (j - 1) * 0.27,
                    value,
                    f"{quantile}\n{value:.0f}",
                    ha="center",
                    va="bottom",
                    fontsize=6,
                )
    latency.axhline(100, color="red", linewidth=0.8, linestyle="--")
    latency.set_yscale("log")
    names = [
        "anchor\nJetStream\n1k/s",
        "GoChat\nJetStream\n1k/s",
        "GoChat\nAPI\n1k/s offered",
        "GoChat\nAPI\n100/s",
    ]
    latency.set_xticks(range(len(names)), names, fontsize=7)
    latency.set_ylabel("send->deliver ms (log)")
    latency.set_title("send->deliver latency (median of runs)\nred: 100 ms target", fontsize=9)
    machine = doc["machine"]
    fig.suptitle(
        f"GoChat gateway ({doc['gateway_processes']} processes) vs centrifuge v0.40.1 - "
        f"{machine['nproc']} cores, {machine['cpu_model']} - {doc['date']}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def timeline_figure(doc: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for run in doc["runs"]:
        outcome = run["loads"].get("fanout")
        if outcome is None or not outcome.get("timeline_per_100ms"):
            continue
        raw = outcome["timeline_per_100ms"]
        # Half-second buckets: 100 ms ones mostly show the scheduler's noise.
        points = [sum(raw[i : i + 5]) * 2 / 1000 for i in range(0, len(raw), 5)]
        ax.plot(
            [i / 2 for i in range(len(points))],
            points,
            color=COLORS[run["target"]],
            alpha=0.8,
            linewidth=1,
            label=f"{LABELS[run['target']]} (rep {run['repetition']})",
        )
    ax.set_xlabel("seconds since the first publish")
    ax.set_ylabel("thousand deliveries/s")
    ax.set_title("fan-out: 20,000 events to 10 channels x 100 clients", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw(doc: dict[str, Any], *, out: Path, stem: str) -> list[Path]:
    summary, timeline = out / f"{stem}-summary.png", out / f"{stem}-fanout-timeline.png"
    summary_figure(doc, summary)
    timeline_figure(doc, timeline)
    return [summary, timeline]
