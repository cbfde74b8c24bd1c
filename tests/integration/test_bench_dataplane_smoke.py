"""The data-plane benchmark's quick mode (bench/dataplane/run.py --quick) runs end to end on
the real servers (PostgreSQL, NATS, Cassandra, OpenSearch, MinIO, all from ~/.cache/gochat/)
and writes a result of the documented shape: every section has its runs, medians for both
backends, and positive figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import minio

pytestmark = [pytest.mark.slow, pytest.mark.timeout(minio.BUILD_TIMEOUT_SECONDS)]
ROOT = Path(__file__).resolve().parents[2]


def _positive(values: dict[str, float], *names: str) -> None:
    assert set(values) >= set(names), values
    for name in names:
        assert values[name] > 0, (name, values)


def _both_have_medians(section: dict[str, Any], key: str, *names: str) -> None:
    _positive(section[key], *names)
    assert {run["backend"] for run in section["runs"]} >= set(names)
    assert len(section["runs"]) >= 3 * len(names)  # three repetitions each


def test_quick_mode_measures_every_backend_pair_and_writes_results(tmp_path: Path) -> None:
    minio.binary()  # built (and cached) first when missing, outside the run's own clock
    finished = subprocess.run(
        [sys.executable, "-m", "bench.dataplane.run", "--quick", "--code", "worktree",
         "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-4000:]
    [result] = tmp_path.glob("dataplane-*-quick.json")
    document = json.loads(result.read_text())
    assert document["quick"] is True and document["machine"]["nproc"] >= 1

    writes = document["messages"]["writes"]
    _both_have_medians(writes, "median_messages_per_s", "postgres", "cassandra")
    assert writes["cassandra_vs_postgres"] > 0
    for shape in ("dense", "sparse"):
        history = document["messages"]["history"][shape]
        for page in ("newest_page", "deep_page"):
            _positive(history[f"median_{page}_p50_ms"], "postgres", "cassandra")
            _positive(history[f"median_{page}_p99_ms"], "postgres", "cassandra")
    # The sparse channel's pages cross buckets: what the Cassandra walk is measured on.
    sparse_runs = document["messages"]["history"]["sparse"]["runs"]
    assert min(run["buckets_per_deep_page"] for run in sparse_runs) > 1

    indexer = document["indexer"]
    _both_have_medians(indexer, "median_documents_per_s", "postgres", "opensearch")

    search = document["search"]
    _positive(search["load"]["postgres"], "documents_per_s")
    _positive(search["load"]["opensearch"], "documents_per_s")
    assert len(search["shapes"]) >= 5
    for name, shape in search["shapes"].items():
        _positive(shape["median_p50_ms"], "postgres", "opensearch")
        _positive(shape["median_p99_ms"], "postgres", "opensearch")
        # The same documents and queries: both indexes find the same messages.
        assert shape["same_total_share"] == 1.0, (name, shape)

    _both_have_medians(document["api_writes"], "median_messages_per_s", "postgres", "cassandra")
    attachments = document["attachments"]
    for step in ("request", "upload", "send", "total"):
        _positive(attachments[f"median_{step}_p50_ms"], "localfs", "s3")
    for run in writes["runs"] + indexer["runs"]:
        assert run["cpu_seconds"]["bench_process"] > 0, run
