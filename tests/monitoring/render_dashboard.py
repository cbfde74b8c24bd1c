"""Draw the main dashboard's panels from a real run, for the README (Grafana cannot be had here).

    .venv/bin/python -m tests.monitoring.render_dashboard [--seconds 90] [--out FILE.png]

Starts the platform and Prometheus as tests/monitoring/live.py does, runs its load, then asks
Prometheus' range API for every panel's queries (variables substituted, a 15 s rate window to
suit a short run) and plots them with matplotlib, one subplot per panel.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from gochat.contract import monitoring
from tests.monitoring import live, promql

RATE_WINDOW, STEP = "15s", 2.0
MAX_LINES = 6
Line = tuple[float, str, list[float], list[float]]  # peak, legend, times, values
SKIPPED = ("gochat_operator_",)  # no operator in this run (see test_dashboards_live.NOT_HERE)


def legend(template: str, labels: dict[str, str]) -> str:
    for key, value in labels.items():
        template = template.replace("{{" + key + "}}", value)
    return template


def draw(stack: live.Stack, *, start: float, end: float, out: Path) -> None:
    board = monitoring.dashboards()["gochat.json"]
    panels = [
        p
        for p in board["panels"]
        if p["type"] != "alertlist" and not any(s in str(p["targets"]) for s in SKIPPED)
    ]
    columns = 4
    rows = math.ceil(len(panels) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.1 * rows))
    for axis, panel in zip(axes.flat, panels, strict=False):
        lines: list[Line] = []
        for target in panel["targets"]:
            expr = promql.substitute(target["expr"], rate_interval=RATE_WINDOW)
            for series in stack.query_range(expr, start=start, end=end, step=STEP):
                times = [float(t) - start for t, _ in series["values"]]
                values = [float(v) for _, v in series["values"]]
                name = legend(target["legendFormat"], series["metric"])[:42]
                lines.append((max(values, default=0.0), name, times, values))
        if panel["type"] == "heatmap":
            heatmap(axis, lines)
        else:
            # The busiest series by peak, as a reader's eye would pick them out.
            for _, name, times, values in sorted(lines, key=lambda line: -line[0])[:MAX_LINES]:
                axis.plot(times, values, linewidth=1.0, label=name)
            axis.set_xlabel("seconds", fontsize=7)
        if not lines:
            axis.text(0.5, 0.5, "no series in this run", ha="center", transform=axis.transAxes)
        axis.set_title(panel["title"], fontsize=9)
        axis.set_ylabel(panel["fieldConfig"]["defaults"]["unit"], fontsize=7)
        axis.tick_params(labelsize=7)
        if axis.lines:
            axis.legend(fontsize=6, loc="upper left", framealpha=0.6)
    for axis in list(axes.flat)[len(panels) :]:
        axis.axis("off")
    figure.suptitle("GoChat dashboard: a short run of make dev under a small load", fontsize=13)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=80)


def heatmap(axis: Any, lines: list[Line]) -> None:
    """Cumulative bucket rates -> per-bucket rates over time, as Grafana's heatmap draws them
    (y: bucket upper bound in seconds; x: time; colour: observations per second)."""
    buckets = sorted((float(name), values) for _, name, _, values in lines)
    if len(buckets) < 2:
        return
    width = min(len(values) for _, values in buckets)
    cumulative = [values[:width] for _, values in buckets]
    cells = [cumulative[0]] + [
        [hi - lo for hi, lo in zip(cumulative[i], cumulative[i - 1], strict=True)]
        for i in range(1, len(cumulative))
    ]
    axis.imshow(cells, aspect="auto", origin="lower", cmap="viridis", interpolation="nearest")
    axis.set_yticks(range(len(buckets)), [f"{bound:g}" for bound, _ in buckets], fontsize=6)
    axis.set_xticks([0, width - 1], ["0", f"{(width - 1) * STEP:.0f}"])
    axis.set_xlabel("seconds", fontsize=7)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=90)
    parser.add_argument("--out", type=Path, default=Path("docs/images/dashboard.png"))
    args = parser.parse_args()
    with live.running_stack() as stack:
        start = time.time()
        asyncio.run(live.load(stack, seconds=args.seconds))
        time.sleep(5)
        draw(stack, start=start, end=time.time(), out=args.out)
    print(args.out)


if __name__ == "__main__":
    main()
