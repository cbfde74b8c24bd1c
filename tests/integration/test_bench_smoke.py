"""The gateway benchmark's smoke mode (bench/ws/run.py --smoke) runs end to end: the platform,
two gateway processes and the centrifuge anchor start, every client connects, every message
is delivered, and the JSON result and figures are written.

Needs the Go toolchain (on every machine of this project's kind). The driver builds the Go
parts once and caches them under ~/.cache/gochat/bench/; a cold build adds a minute or two.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "ws"


def test_benchmark_smoke_mode_delivers_everything_and_writes_results(tmp_path: Path) -> None:
    assert shutil.which("go"), "the gateway benchmark needs the Go toolchain (go) on PATH"
    finished = subprocess.run(
        [
            sys.executable,
            str(BENCH / "run.py"),
            "--smoke",
            "--code",
            "worktree",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-4000:]
    [result] = tmp_path.glob("ws-smoke-*.json")
    document = json.loads(result.read_text())
    assert {run["target"] for run in document["runs"]} == {"gochat", "anchor"}
    for run in document["runs"]:
        assert run["held"] == run["clients"], run
        for outcome in run["loads"].values():
            assert outcome["delivered"] == outcome["expected_deliveries"] > 0
    # The API load says where the CPU went: the API's workers and PostgreSQL both worked.
    [api_load] = [
        r["loads"]["latency-api"]
        for r in document["runs"]
        if r["target"] == "gochat" and r["scenario"] == "latency"
    ]
    assert api_load["cpu_seconds"]["api"] > 0 and api_load["cpu_seconds"]["postgres"] > 0
    assert api_load["cpu_seconds"]["machine"] >= api_load["cpu_seconds"]["api"]
    # The API served the warm-up before any measured load, over connections to both workers.
    assert document["api_warm_up"]["sends"] > 0 < document["api_warm_up"]["p50_ms"]
    assert len(list(tmp_path.glob("ws-smoke-*.png"))) == 2
