"""What a kind cluster can change on the host, snapshotted before and compared after.

A privileged kind node shares the host kernel: kubelet and systemd write host-global sysctls,
Docker creates ``/usr/lib/modules`` (the bind source of the node's ``/lib/modules``) and a few
fixed paths, and containers leave cgroups under dockerd's cgroup parent. ``take`` records all of
it (plus links, routes, firewall rules, mounts and the harness's processes), ``differences``
says what changed, ``restore`` puts back what the harness is known to change.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

# Host-global (not per network namespace) sysctls a kind node writes: kubelet (overcommit,
# panic), systemd as PID 1 (file-max, nr_open) and Debian's sysctl.d defaults.
GLOBAL_SYSCTLS = (
    "vm.overcommit_memory",
    "kernel.panic",
    "kernel.panic_on_oops",
    "fs.file-max",
    "fs.nr_open",
    "fs.protected_fifos",
    "fs.protected_hardlinks",
    "fs.protected_regular",
    "fs.protected_symlinks",
    "kernel.pid_max",
)

# Paths Docker 20.10 and containerd-shim 1.6 create whatever their configured roots are.
FIXED_PATHS = (
    "/usr/lib/modules",
    "/etc/docker/key.json",
    "/etc/docker",
    "/run/docker/plugins",
    "/run/docker",
    "/run/containerd/s",
    "/run/containerd",
    "/run/netns",
    "/run/mount",
)

HARNESS_PROGRAMS = frozenset(
    {"dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2", "docker-proxy", "kind"}
)
HARNESS_PROGRAMS_PREFIXES = ("kubelet", "runc")

_COUNTERS = re.compile(r"\[\d+:\d+\]")


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """Each category maps to the sorted lines that describe it."""

    categories: dict[str, tuple[str, ...]]

    def sysctls(self) -> dict[str, str]:
        return dict(line.split(" = ", 1) for line in self.categories.get("sysctls", ()))

    def existing_paths(self) -> frozenset[str]:
        return frozenset(self.categories.get("paths", ()))


def take() -> Snapshot:
    categories = {
        "links": _lines(["ip", "-o", "link", "show"], keep=_link_identity),
        "routes": _lines(["ip", "route", "show", "table", "all"]),
        "iptables": _lines(["iptables-save"], keep=_rule),
        "iptables-legacy": _lines(["iptables-legacy-save"], keep=_rule),
        "nft": _lines(["nft", "list", "ruleset"]),
        "mounts": tuple(sorted(read_mount_points(Path("/proc/self/mountinfo").read_text()))),
        "cgroups": tuple(sorted(_cgroup_dirs(Path("/sys/fs/cgroup")))),
        "sysctls": tuple(f"{name} = {read_sysctl(name)}" for name in GLOBAL_SYSCTLS),
        "paths": tuple(path for path in FIXED_PATHS if os.path.lexists(path)),
        "processes": tuple(sorted(harness_processes(Path("/proc")))),
    }
    return Snapshot(categories=categories)


def differences(before: Snapshot, after: Snapshot) -> list[str]:
    """One line per change, ``category: -gone`` or ``category: +new``; empty when identical."""
    changes: list[str] = []
    for category in sorted(before.categories.keys() | after.categories.keys()):
        old = set(before.categories.get(category, ()))
        new = set(after.categories.get(category, ()))
        changes += [f"{category}: -{line}" for line in sorted(old - new)]
        changes += [f"{category}: +{line}" for line in sorted(new - old)]
    return changes


def restore(before: Snapshot, *, cgroup_parent: str) -> list[str]:
    """Undo what a kind cluster is known to change; return what was done.

    Sysctls go back to their recorded values, fixed paths that did not exist before are removed
    (directories only when empty: anything inside them is a leftover to report, not to delete),
    and the cgroups under dockerd's cgroup parent are removed bottom-up.
    """
    done: list[str] = []
    for name, value in before.sysctls().items():
        if read_sysctl(name) != value:
            write_sysctl(name, value)
            done.append(f"sysctl {name} = {value}")
    existed = before.existing_paths()
    for path in FIXED_PATHS:  # children listed before parents
        if path in existed or not os.path.lexists(path):
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            if _is_mount_point(path):  # `ip netns add` bind-mounts /run/netns onto itself
                subprocess.run(["umount", path], check=False)
            try:
                os.rmdir(path)
            except OSError:
                continue
        else:
            os.unlink(path)
        done.append(f"removed {path}")
    for top in Path("/sys/fs/cgroup").glob(f"*/{cgroup_parent.strip('/')}"):
        for directory in sorted(top.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if directory.is_dir():
                _rmdir_quietly(directory)
        _rmdir_quietly(top)
        done.append(f"removed cgroup {top}")
    return done


def read_mount_points(mountinfo: str) -> list[str]:
    """Mount points with their filesystem type (``/proc/*/mountinfo``: field 5, after ``-``)."""
    points = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 5 or "-" not in fields:
            continue
        fstype = fields[fields.index("-") + 1]
        points.append(f"{fields[4]} {fstype}")
    return points


def _is_mount_point(path: str) -> bool:
    mountinfo = Path("/proc/self/mountinfo").read_text()
    return any(point.split(" ")[0] == path for point in read_mount_points(mountinfo))


def harness_processes(proc: Path) -> list[str]:
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if name in HARNESS_PROGRAMS or name.startswith(HARNESS_PROGRAMS_PREFIXES):
            found.append(f"{name} (pid {entry.name})")
    return found


def read_sysctl(name: str) -> str:
    return " ".join(_sysctl_path(name).read_text().split())


def write_sysctl(name: str, value: str) -> None:
    _sysctl_path(name).write_text(value + "\n")


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def _cgroup_dirs(root: Path) -> list[str]:
    dirs = []
    for hierarchy in root.iterdir() if root.is_dir() else ():
        if hierarchy.is_dir() and not hierarchy.is_symlink():
            dirs += [str(child) for child in hierarchy.iterdir() if child.is_dir()]
    return dirs


def _lines(
    command: list[str], *, keep: Callable[[str], str | None] | None = None
) -> tuple[str, ...]:
    if shutil.which(command[0]) is None:
        return (f"({command[0]} not installed)",)
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = proc.stdout.splitlines()
    if keep is not None:
        lines = [kept for line in lines if (kept := keep(line)) is not None]
    return tuple(sorted(lines))


def _link_identity(line: str) -> str:
    # `ip -o link`: "2: eth0: <FLAGS> mtu 1500 qdisc ... state UP ... link/ether ..."
    return line.split("\\", 1)[0].strip()


def _rule(line: str) -> str | None:
    if line.startswith("#"):  # "# Generated by ... on <date>"
        return None
    return _COUNTERS.sub("[-]", line)


def _rmdir_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()
