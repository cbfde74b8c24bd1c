"""Percentiles and the medians-of-repetitions every section reports."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (fraction in 0..1) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p99/max in milliseconds, and how many samples they come from."""
    return {
        "samples": len(seconds),
        "p50_ms": percentile(seconds, 0.50) * 1000,
        "p99_ms": percentile(seconds, 0.99) * 1000,
        "max_ms": max(seconds) * 1000,
    }


def medians(runs: Sequence[dict[str, Any]], *, key: str, by: str = "backend") -> dict[str, float]:
    """The median of `key` over the runs of each `by` value (one run per repetition)."""
    groups: dict[str, list[float]] = {}
    for run in runs:
        groups.setdefault(run[by], []).append(float(run[key]))
    return {name: statistics.median(values) for name, values in groups.items()}


def rotated(names: Sequence[str], repetition: int) -> list[str]:
    """`names` starting at a different one each repetition, so none always runs first."""
    shift = repetition % len(names)
    return [*names[shift:], *names[:shift]]
