"""Markdown tables from a result file, for FINDINGS.md and the README.

.venv/bin/python -m bench.api.report bench/results/api-<date>.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _row(key: str, s: dict[str, Any]) -> str:
    rps, us = s["requests_per_second"], s["cpu_us_per_request_median"]
    cores = s["cpu_cores_median"]
    return (
        f"| {key} | {rps['median']:.0f} ({rps['min']:.0f}-{rps['max']:.0f}) "
        f"| {s['p50_us']['median'] / 1000:.1f} | {s['p99_us']['median'] / 1000:.0f} "
        f"| {s['max_us']['median'] / 1000:.0f} | {us['api']:.0f} | {us['postgres']:.0f} "
        f"| {cores['api']:.2f} / {cores['postgres']:.2f} / {cores['wrk']:.2f} "
        f"/ {cores['elsewhere']:.2f} | {s['errors']} |"
    )


def tables(result: dict[str, Any]) -> str:
    lines = []
    for name, variant in result["variants"].items():
        lines += [
            f"**{name}** (`{variant['commit']}`)",
            "",
            "| load | requests/s median (min-max) | p50 ms | p99 ms | max ms "
            "| API CPU µs/request | PostgreSQL CPU µs/request "
            "| cores: api / postgres / wrk / elsewhere | errors |",
            "|---|---|---|---|---|---|---|---|---|",
            *(_row(key, s) for key, s in variant["summary"].items()),
            "",
        ]
    for name, ratios in result.get("ratios_over_baseline", {}).items():
        lines += [
            f"**{name} ÷ baseline** (medians)",
            "",
            "| load | requests/s | p50 | API CPU per request |",
            "|---|---|---|---|",
            *(
                f"| {key} | {r['requests_per_second']:.2f} | {r['p50']:.2f} "
                f"| {r['api_cpu_us_per_request']:.2f} |"
                for key, r in ratios.items()
            ),
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(tables(json.loads(Path(sys.argv[1]).read_text())))
