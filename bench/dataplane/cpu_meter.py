"""CPU seconds each server and the benchmark's own process spend on a measured run: on two
shared cores, where the time goes says more than the wall clock alone."""

from __future__ import annotations

import time

from bench.api import cpu
from bench.dataplane import servers


class Meter:
    def __init__(self, running: servers.Servers) -> None:
        self._running = running

    def snapshot(self) -> dict[str, float]:
        s = self._running
        pids = {"cassandra": s.cassandra.pid, "opensearch": s.opensearch.pid, "minio": s.minio.pid,
                "nats": s.nats.pid}  # fmt: skip
        seconds = {name: cpu.process_seconds(pid) if pid else 0.0 for name, pid in pids.items()}
        seconds["postgres"] = cpu.tree_seconds(s.pg.pid) if s.pg.pid else 0.0
        seconds["bench_process"] = time.process_time()  # client, drivers, and the in-process API
        seconds["machine"] = cpu.machine_busy_seconds()  # everything, other helpers' work too
        return seconds

    def since(self, before: dict[str, float]) -> dict[str, float]:
        now = self.snapshot()
        return {name: round(now[name] - before[name], 3) for name in now}
