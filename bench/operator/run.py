"""Operator benchmark: time from apply to Ready, operator CPU and RSS, at 1, 100 and 500
GoChatClusters on KWOK nodes, and reconciles per minute at rest.

    .venv/bin/python -m bench.operator.run [--counts 1,100,500] [--out bench/operator/results.json]

Clusters are added cumulatively (1, then 99 more, then 400 more), so each round measures the
new clusters' latency while the operator already holds the earlier ones. Each cluster runs one
replica per component (4 pods and a migration pod) to keep the fake nodes' pod count sane.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import os
import pathlib
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import yaml

from tests.k8s import tools
from tests.k8s.cluster import LocalControlPlane
from tests.operator import k8s_support

NAMESPACE = "bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class ProcessSampler(threading.Thread):
    """CPU seconds and RSS of one process, sampled every second from /proc."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[tuple[float, float, float]] = []  # (time, cpu seconds, rss MiB)
        self.stopped = threading.Event()

    def sample(self) -> tuple[float, float, float]:
        fields = pathlib.Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
        status = pathlib.Path(f"/proc/{self.pid}/status").read_text()
        rss_kb = next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
        )
        return time.monotonic(), cpu, rss_kb / 1024

    def run(self) -> None:
        while not self.stopped.wait(1.0):
            try:
                self.samples.append(self.sample())
            except FileNotFoundError:  # the operator exited
                return

    def window(self, start: float, end: float) -> dict[str, float]:
        inside = [s for s in self.samples if start <= s[0] <= end] or [self.sample()]
        cpu = inside[-1][1] - inside[0][1]
        elapsed = max(1e-9, inside[-1][0] - inside[0][0])
        return {
            "cpu_seconds": round(cpu, 2),
            "cpu_percent": round(100 * cpu / elapsed, 1),
            "rss_peak_mib": round(max(s[2] for s in inside), 1),
            "rss_end_mib": round(inside[-1][2], 1),
        }


def cluster_body(index: int) -> dict[str, Any]:
    one = {"replicas": 1}
    return k8s_support.sample(components={"api": one, "auth": one, "ws": one, "indexer": one}) | {
        "metadata": {"name": f"c{index:04d}", "namespace": NAMESPACE}
    }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))], 2)


def reconciles_total(operator: k8s_support.OperatorProcess) -> float:
    total = 0.0
    for line in operator.metrics().splitlines():
        if line.startswith("gochat_operator_reconciles_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def add_clusters(gochat: k8s_support.Cluster, indexes: range) -> dict[str, float]:
    """Create the clusters (8 at a time, as a CI pipeline would); name -> applied at."""
    applied: dict[str, float] = {}

    def create(index: int) -> None:
        body = cluster_body(index)
        gochat.kubectl("create", "-f", "-", input=yaml.safe_dump(body))
        applied[body["metadata"]["name"]] = time.monotonic()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(create, indexes))
    return applied


def wait_all_ready(
    gochat: k8s_support.Cluster, applied: dict[str, float], timeout: float
) -> dict[str, float]:
    ready_at: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(ready_at) < len(applied) and time.monotonic() < deadline:
        for item in gochat.items("gochatcluster"):
            name = item["metadata"]["name"]
            if (
                name in applied
                and name not in ready_at
                and item.get("status", {}).get("phase") == "Ready"
            ):
                ready_at[name] = time.monotonic()
        time.sleep(1.0)
    return {name: ready_at[name] - applied[name] for name in ready_at}


def timestamp(value: str) -> float:
    return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").timestamp()


def condition_time(body: dict[str, Any], kind: str, field: str = "lastTransitionTime") -> float:
    conditions = body.get("status", {}).get("conditions", [])
    return timestamp(next(c[field] for c in conditions if c["type"] == kind))


def breakdown(gochat: k8s_support.Cluster, names: set[str]) -> dict[str, float]:
    """Where the time to Ready went (p50 seconds, API timestamps of 1 s resolution): the
    operator's steps (to the Job, from the Job to the Deployments, from their availability to
    Ready) and the control plane's (the Job's pod, the Deployments' rollout)."""
    clusters = {c["metadata"]["name"]: c for c in gochat.items("gochatcluster")}
    jobs, deployments = {}, {}
    for job in gochat.items("job"):
        jobs[job["metadata"]["labels"]["app.kubernetes.io/instance"]] = job
    for deployment in gochat.items("deployment"):
        instance = deployment["metadata"]["labels"]["app.kubernetes.io/instance"]
        deployments.setdefault(instance, []).append(deployment)
    steps: dict[str, list[float]] = {}
    for name in names & set(clusters):
        try:
            created = timestamp(clusters[name]["metadata"]["creationTimestamp"])
            job = jobs[name]
            job_created = timestamp(job["metadata"]["creationTimestamp"])
            job_done = timestamp(job["status"]["completionTime"])
            rolled = [timestamp(d["metadata"]["creationTimestamp"]) for d in deployments[name]]
            available = [
                condition_time(d, "Available", "lastUpdateTime") for d in deployments[name]
            ]
            ready = condition_time(clusters[name], "Ready")
        except (KeyError, StopIteration):
            continue
        for step, seconds in {
            "operator_create_to_job": job_created - created,
            "control_plane_job_run": job_done - job_created,
            "operator_job_to_deployments": max(rolled) - job_done,
            "control_plane_rollout": max(available) - max(rolled),
            "operator_available_to_ready": ready - max(available),
        }.items():
            steps.setdefault(step, []).append(seconds)
    return {step: round(statistics.median(values), 1) for step, values in steps.items()}


def settle(operator: k8s_support.OperatorProcess, *, quiet: float = 15, limit: float = 180) -> None:
    """Wait until no reconcile happened for `quiet` seconds: Deployment status updates trail
    readiness by a while on a loaded machine, and "at rest" means after they stopped."""
    deadline = time.monotonic() + limit
    last, quiet_since = reconciles_total(operator), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - quiet_since < quiet:
        time.sleep(2.5)
        now = reconciles_total(operator)
        if now != last:
            last, quiet_since = now, time.monotonic()


def run_round(
    gochat: k8s_support.Cluster, operator: k8s_support.OperatorProcess, sampler: ProcessSampler,
    *, start: int, total: int, rest_seconds: float, timeout: float,
) -> dict[str, Any]:  # fmt: skip
    began = time.monotonic()
    applied = add_clusters(gochat, range(start, total))
    latencies = wait_all_ready(gochat, applied, timeout)
    converged = time.monotonic()
    values = list(latencies.values()) or [float("nan")]
    result: dict[str, Any] = {
        "clusters_total": total,
        "clusters_added": total - start,
        "ready": len(latencies),
        "apply_to_ready_p50_s": percentile(values, 0.5),
        "apply_to_ready_p99_s": percentile(values, 0.99),
        "apply_to_ready_max_s": round(max(values), 2),
        "apply_to_ready_mean_s": round(statistics.fmean(values), 2),
        "all_ready_after_s": round(converged - began, 2),
        "operator_during_rollout": sampler.window(began, converged),
        "p50_breakdown_s": breakdown(gochat, set(applied)),
    }
    settle(operator)
    rest_start, count_before = time.monotonic(), reconciles_total(operator)
    time.sleep(rest_seconds)
    rest_end, count_after = time.monotonic(), reconciles_total(operator)
    result["at_rest"] = {
        "seconds": rest_seconds,
        "reconciles_per_minute": round(
            (count_after - count_before) * 60 / (rest_end - rest_start), 1
        ),
        **sampler.window(rest_start, rest_end),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,100,500")
    parser.add_argument("--rest-seconds", type=float, default=60)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--out", default="bench/operator/results.json")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    # Background jobs ignore SIGINT: make SIGTERM unwind through the `finally` that stops
    # the control plane, instead of leaving its processes behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run_dir = pathlib.Path(tempfile.mkdtemp(prefix="gochat-operator-bench-"))
    plane = LocalControlPlane(run_dir=run_dir, bin_dir=tools.ensure(), nodes=2, log=print)
    k8s = plane.start()
    operator = None
    try:
        k8s_support.install_crd(k8s)
        k8s.kubectl("create", "namespace", NAMESPACE)
        gochat = k8s_support.Cluster(k8s, NAMESPACE)
        k8s_support.wait_until(
            "default ServiceAccount",
            lambda: gochat.kubectl("get", "sa", "default", check=False),
        )
        gochat.create_dsn_secret()
        operator = k8s_support.OperatorProcess(
            cluster=k8s, namespace=NAMESPACE, log_path=run_dir / "operator.log",
            env={"GOCHAT_OPERATOR_RESYNC_SECONDS": "600"},
        ).start()  # fmt: skip
        assert operator.process is not None
        sampler = ProcessSampler(operator.process.pid)
        sampler.start()
        rounds, start = [], 0
        for total in counts:
            print(f"round: {start} -> {total} clusters", flush=True)
            rounds.append(
                run_round(
                    gochat,
                    operator,
                    sampler,
                    start=start,
                    total=total,
                    rest_seconds=args.rest_seconds,
                    timeout=args.timeout,
                )
            )
            print(json.dumps(rounds[-1]), flush=True)
            start = total
        sampler.stopped.set()
        report = {
            "benchmark": "gochat-operator apply-to-Ready",
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "control_plane": {
                "kubernetes": tools.PINNED.kubernetes,
                "kwok": tools.PINNED.kwok,
                "nodes": 2,
            },
            "cluster_shape": "sample GoChatCluster, 1 replica per component",
            "targets": {"500_ready_within_s": 300, "rss_under_mib": 300},
            "rounds": rounds,
        }
        pathlib.Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.out}")
    finally:
        if operator is not None:
            operator.stop()
        plane.stop()
        subprocess.run(["rm", "-rf", str(run_dir)], check=False)


if __name__ == "__main__":
    main()
