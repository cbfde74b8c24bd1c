"""Prints the medians and ratios of a data-plane result as Markdown tables (the README's).

.venv/bin/python -m bench.dataplane.report bench/results/dataplane-<date>.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _ms(values: dict[str, float], a: str, b: str) -> str:
    return f"{values[a]:.1f} | {values[b]:.1f} | {values[a] / values[b]:.2f}"


def rows(d: dict[str, Any]) -> list[str]:
    out = ["| measure | production backend | PostgreSQL / local | ratio |", "|---|---|---|---|"]
    writes = d["messages"]["writes"]["median_messages_per_s"]
    out.append(
        f"| MessageStore writes/s (Cassandra) | {writes['cassandra']:.0f} | "
        f"{writes['postgres']:.0f} | {writes['cassandra'] / writes['postgres']:.2f} |"
    )
    for diagnostic in ("cassandra_timeline_only", "postgres_synchronous_commit"):
        if diagnostic in writes:
            value = writes[diagnostic]
            out.append(
                f"| (diagnostic) {diagnostic} writes/s | {value:.0f} | {writes['postgres']:.0f} | "
                f"{value / writes['postgres']:.2f} |"
            )
    for shape, h in d["messages"]["history"].items():
        spans = [r["buckets_per_deep_page"] for r in h["runs"] if r["backend"] == "cassandra"]
        label = f"history {shape} ({h['buckets']} buckets x {h['messages_per_bucket']})"
        for page in ("newest_page", "deep_page"):
            for q in ("p50_ms", "p99_ms"):
                values = h[f"median_{page}_{q}"]
                out.append(
                    f"| {label}, {page.replace('_', ' ')} {q[:3]} ms | "
                    f"{_ms(values, 'cassandra', 'postgres')} |"
                )
        out.append(f"| {label}: buckets per deep page | {spans[0]:.1f} | 1 index scan | |")
    idx = d["indexer"]["median_documents_per_s"]
    out.append(
        f"| indexer end to end, documents/s ({d['indexer']['events']:,} events) | "
        f"{idx['opensearch']:.0f} | {idx['postgres']:.0f} | "
        f"{idx['opensearch'] / idx['postgres']:.2f} |"
    )
    if "postgres_synchronous_commit" in idx:
        flushing = idx["postgres_synchronous_commit"]
        out.append(
            "| indexer, PostgreSQL flushing each commit (as OpenSearch's translog) | "
            f"{idx['opensearch']:.0f} | {flushing:.0f} | {idx['opensearch'] / flushing:.2f} |"
        )
    load = d["search"]["load"]
    out.append(
        f"| search bulk load via upsert, documents/s ({d['search']['documents']:,}) | "
        f"{load['opensearch']['documents_per_s']:.0f} | "
        f"{load['postgres']['documents_per_s']:.0f} | "
        f"{d['search']['load_opensearch_vs_postgres']:.2f} |"
    )
    for shape, s in d["search"]["shapes"].items():
        for q in ("p50_ms", "p99_ms"):
            out.append(
                f"| search {shape} {q[:3]} ms (median total "
                f"{s['median_total']['postgres']}) | "
                f"{_ms(s[f'median_{q}'], 'opensearch', 'postgres')} |"
            )
    api = d["api_writes"]["median_messages_per_s"]
    out.append(
        f"| API sends/s (in-process, one channel) | {api['cassandra']:.0f} | "
        f"{api['postgres']:.0f} | {api['cassandra'] / api['postgres']:.2f} |"
    )
    a = d["attachments"]
    for step in ("request", "upload", "send", "total"):
        for q in ("p50_ms", "p99_ms"):
            out.append(
                f"| attachment {step} {q[:3]} ms (S3 vs local folder) | "
                f"{_ms(a[f'median_{step}_{q}'], 's3', 'localfs')} |"
            )
    return out


def main() -> None:
    document = json.loads(Path(sys.argv[1]).read_text())
    print(f"load average at start {document['machine']['loadavg_at_start']}, "
          f"at end {document['loadavg_at_end']}")  # fmt: skip
    print("\n".join(rows(document)))


if __name__ == "__main__":
    main()
