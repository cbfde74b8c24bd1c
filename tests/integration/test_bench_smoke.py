"""The gateway benchmark's smoke mode (bench/ws/run.py --smoke) runs end to end: the platform,
two gateway processes and the centrifuge anchor start, every client connects, every message
is delivered, and the JSON result and figures are written.

Needs the Go toolchain. Building the Go parts from a cold module cache takes minutes, so the
test runs only when they are already built (any earlier benchmark run caches them under
~/.cache/gochat/bench/) or when GOCHAT_BENCH_SMOKE=1 asks for the build; it takes ~40 s then.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "ws"


def _built() -> bool:
    sys.path.insert(0, str(BENCH))
    try:
        import gobuild

        folder = gobuild.CACHE / f"ws-{gobuild.source_key()}"
        return all((folder / name).exists() for name in gobuild.COMMANDS)
    finally:
        sys.path.remove(str(BENCH))


def test_benchmark_smoke_mode_delivers_everything_and_writes_results(tmp_path: Path) -> None:
    if shutil.which("go") is None:
        pytest.skip("the gateway benchmark needs the Go toolchain (go) on PATH")
    if not _built() and os.environ.get("GOCHAT_BENCH_SMOKE") != "1":
        pytest.skip(
            "bench/ws Go binaries not built yet (a cold build takes minutes); run "
            "`python bench/ws/run.py --smoke` once or set GOCHAT_BENCH_SMOKE=1"
        )
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
    assert len(list(tmp_path.glob("ws-smoke-*.png"))) == 2
