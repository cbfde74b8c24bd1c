"""`python bench/ws/probe_gateway.py OUT_DIR`: run `gochat ws` unchanged, with two probes the
gateway itself does not have, for FINDINGS.md:

- every garbage-collector pause (gc.callbacks), by generation: a stop-the-world pause delays
  every delivery queued behind it, which is what a p99 sees;
- with GOCHAT_BENCH_GC_FREEZE=1, gc.freeze() once the gateway's modules are imported;
- with PYTHONTRACEMALLOC set, on SIGUSR1 the top allocation sites still alive (what an idle
  connection's memory is made of).

Writes OUT_DIR/probe-<pid>.json on SIGUSR1 and at exit.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import json
import os
import signal
import sys
import time
import tracemalloc
from pathlib import Path
from types import FrameType
from typing import Any

from gochat import cli

FREEZE = "GOCHAT_BENCH_GC_FREEZE"
_started: list[float] = [0.0]
_pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        _pauses[info["generation"]].append((time.perf_counter() - _started[0]) * 1000)


def _summary(pauses: list[float]) -> dict[str, float]:
    ordered = sorted(pauses)
    if not ordered:
        return {"count": 0}
    return {
        "count": len(ordered),
        "total_ms": round(sum(ordered), 1),
        "p50_ms": round(ordered[len(ordered) // 2], 3),
        "p99_ms": round(ordered[int(len(ordered) * 0.99)], 3),
        "max_ms": round(ordered[-1], 3),
    }


def _dump(out: Path) -> None:
    report: dict[str, Any] = {
        "gc_pauses": {f"gen{g}": _summary(p) for g, p in _pauses.items()},
        "gc_objects": len(gc.get_objects()),
    }
    if tracemalloc.is_tracing():
        stats = tracemalloc.take_snapshot().statistics("lineno")
        report["traced_bytes"] = sum(s.size for s in stats)
        report["top_allocations"] = [
            {"where": str(s.traceback), "bytes": s.size, "blocks": s.count} for s in stats[:40]
        ]
    (out / f"probe-{os.getpid()}.json").write_text(json.dumps(report, indent=1))


def main() -> int:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    if os.environ.get(FREEZE) == "1":
        # The experiment FINDINGS.md reports: start-up objects (modules, classes, pydantic
        # schemas) moved out of the collector's reach, so a full collection walks only what
        # the running gateway holds.
        importlib.import_module("gochat.ws.app")
        gc.collect()
        gc.freeze()
    gc.callbacks.append(_on_gc)

    def on_usr1(signum: int, frame: FrameType | None) -> None:
        _dump(out)

    signal.signal(signal.SIGUSR1, on_usr1)
    atexit.register(_dump, out)
    return cli.main(["ws"])


if __name__ == "__main__":
    raise SystemExit(main())
