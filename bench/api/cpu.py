"""CPU seconds of the processes under test, read from /proc/<pid>/stat (utime + stime).

PostgreSQL is a process tree (postmaster and one backend per connection): its figure is the sum
over the postmaster, its live children and the children it has reaped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces; everything after its closing ")" splits cleanly.
    return raw[raw.rindex(")") + 2 :].split()


def process_seconds(pid: int) -> float:
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (stat fields 14, 15)


def tree_seconds(root_pid: int) -> float:
    """The process and its direct children (PostgreSQL's backends are the postmaster's), the
    live ones and those it has reaped: a pool may close a connection in the middle of a load
    (asyncpg recycles one after 50,000 queries), and its backend's CPU then moves into the
    postmaster's cutime/cstime instead of vanishing from the sum."""
    fields = _stat_fields(root_pid)
    if fields is None:
        return 0.0
    total = sum(int(x) for x in fields[11:15]) / CLK_TCK  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == root_pid:
                total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


@dataclass(frozen=True)
class Snapshot:
    seconds: dict[str, float]


def machine_busy_seconds() -> float:
    """CPU seconds all processors spent on anything but idle and I/O wait (/proc/stat)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def snapshot(pids: Mapping[str, tuple[int, bool]]) -> Snapshot:
    """`pids`: name -> (pid, whether to include its children); `machine` is every process's
    CPU, so what the shared machine spent elsewhere shows as machine minus the others."""
    seconds = {
        name: tree_seconds(pid) if with_children else process_seconds(pid)
        for name, (pid, with_children) in pids.items()
    }
    return Snapshot({**seconds, "machine": machine_busy_seconds()})


def delta(before: Snapshot, after: Snapshot) -> dict[str, float]:
    return {name: round(after.seconds[name] - before.seconds[name], 3) for name in before.seconds}
