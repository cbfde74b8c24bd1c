"""A private Docker daemon for kind, invisible to the host network.

Debian's ``dockerd`` runs in its own network namespace (so its bridge and iptables rules never
touch the host's) and its own mount namespace, with its own data root, exec root, socket,
pidfile and cgroup parent under ``state_dir``. ``ip netns exec`` cannot be used: it remounts
/sys without the cgroup v1 hierarchies ("Devices cgroup isn't mounted"); instead the cgroup
tree is carried across a fresh sysfs mount.

This VM's capability bounding set lacks CAP_SYS_RESOURCE, while Docker gives ``--privileged``
containers every capability: a runc wrapper (the daemon's default runtime) strips it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

NETNS = "gochat-kind"
CGROUP_PARENT = "/gochat-kind-docker"
LOCK_DIR = Path("/run/lock/gochat")

RUNC_WRAPPER = """\
#!/usr/bin/python3
# dockerd's default runtime: drop the capabilities this machine's bounding set lacks from the
# bundle's config.json (create, run) or the --process file (exec), then run the real runc.
import json, os, sys

DROP = {"CAP_SYS_RESOURCE"}


def strip(path):
    with open(path) as f:
        spec = json.load(f)
    caps = spec.get("process", spec).get("capabilities") or {}
    changed = False
    for kind, names in caps.items():
        if isinstance(names, list) and DROP & set(names):
            caps[kind] = [name for name in names if name not in DROP]
            changed = True
    if changed:
        with open(path, "w") as f:
            json.dump(spec, f)


args = sys.argv[1:]
for i, arg in enumerate(args):
    for flag, name in (("--bundle", "config.json"), ("-b", "config.json"),
                       ("--process", ""), ("-p", "")):
        value = None
        if arg == flag and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
        if value is not None:
            path = os.path.join(value, name) if name else value
            if os.path.isfile(path):
                strip(path)
os.execv(RUNC, ["runc", *args])
"""

# Inside the new mount namespace: a sysfs that matches the network namespace, with the host's
# cgroup hierarchies carried over (rbind aside, remount /sys, rbind back).
START_SCRIPT = """
set -e
mount --rbind /sys/fs/cgroup "$CGSAVE"
umount -l /sys
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mount --rbind "$CGSAVE" /sys/fs/cgroup
umount -l "$CGSAVE"
exec dockerd --config-file "$CONFIG"
"""


class DockerdError(RuntimeError):
    """dockerd could not be started; the message carries the tail of its log."""


class Dockerd:
    def __init__(self, *, state_dir: Path, netns: str = NETNS) -> None:
        self.state_dir = state_dir
        self.netns = netns
        self.socket = state_dir / "docker.sock"
        self.pidfile = state_dir / "dockerd.pid"
        self.log_path = state_dir / "dockerd.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """Environment for docker and kind commands talking to this daemon; kind runs the
        `docker` first on PATH, which must be Debian's client (the same API as the daemon)."""
        path = "/usr/bin:/usr/sbin:" + os.environ.get("PATH", "/bin")
        return {**os.environ, "DOCKER_HOST": f"unix://{self.socket}", "PATH": path}

    def netns_command(self, command: list[str]) -> list[str]:
        """``command`` run in the daemon's network namespace (the API server listens there)."""
        return ["nsenter", f"--net=/run/netns/{self.netns}", *command]

    @property
    def lock_path(self) -> Path:
        """The network namespace and the cgroup parent are the machine's, not the checkout's:
        two checkouts (or two cache roots) on one machine must take turns, so the lock lives
        in /run, named after the namespace."""
        return LOCK_DIR / f"{self.netns}.lock"

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """One harness run per machine: a second one fails at once instead of sharing (and
        then purging) the first one's namespace and daemon."""
        LOCK_DIR.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise DockerdError(
                    f"another kind harness run holds {self.lock_path} (namespace {self.netns})"
                ) from None
            yield

    def is_running(self) -> bool:
        return self.socket.exists() and self.docker(["info"], check=False).returncode == 0

    def start(self, *, timeout: float = 60.0) -> None:
        if self.is_running():
            return
        for program in ("dockerd", "runc", "unshare", "nsenter", "ip"):
            if shutil.which(program) is None:
                raise DockerdError(
                    f"`{program}` not found: apt-get install docker.io containerd runc iptables"
                )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        if not Path(f"/run/netns/{self.netns}").exists():
            _run(["ip", "netns", "add", self.netns])
            _run(["ip", "-n", self.netns, "link", "set", "lo", "up"])
        cgsave = self.state_dir / "cgsave"
        cgsave.mkdir(exist_ok=True)
        with open(self.log_path, "wb") as log:
            # unshare, nsenter and bash all exec: this child is dockerd itself.
            self._process = subprocess.Popen(
                [
                    "unshare",
                    "-m",
                    "--propagation",
                    "slave",
                    *self.netns_command(["bash", "-c", START_SCRIPT]),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={
                    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                    "CGSAVE": str(cgsave),
                    "CONFIG": str(config),
                },
            )
        deadline = time.monotonic() + timeout
        while not self.is_running():
            if time.monotonic() > deadline:
                tail = self.log_path.read_text(errors="replace").splitlines()[-20:]
                raise DockerdError("dockerd did not come up:\n" + "\n".join(tail))
            time.sleep(0.2)

    def stop(self, *, timeout: float = 60.0) -> None:
        """Stop dockerd (its containerd goes with it) and remove the network namespace."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        elif (pid := self._pid()) is not None:  # started by an earlier, killed run
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if Path(f"/run/netns/{self.netns}").exists():
            subprocess.run(["ip", "netns", "del", self.netns], check=False)

    def purge(self) -> None:
        """After ``stop``: drop the daemon's images and containers too."""
        self.stop()
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def docker(
        self, args: list[str], *, check: bool = True, stdin: int | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [docker_cli(), *args],
            env=self.env,
            stdin=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        if check and proc.returncode != 0:
            raise DockerdError(f"docker {' '.join(args[:3])} failed: {proc.stderr.strip()}")
        return proc

    def _write_config(self) -> Path:
        wrapper = self.state_dir / "runc-nosysres"
        runc = shutil.which("runc") or "/usr/sbin/runc"
        wrapper.write_text(RUNC_WRAPPER.replace("RUNC, ", f"{runc!r}, "))
        wrapper.chmod(0o755)
        config = {
            "data-root": str(self.state_dir / "data"),
            "exec-root": str(self.state_dir / "exec"),
            "pidfile": str(self.pidfile),
            "hosts": [f"unix://{self.socket}"],
            "cgroup-parent": CGROUP_PARENT,
            "storage-driver": "overlay2",
            "log-driver": "json-file",
            "default-cgroupns-mode": "private",
            "runtimes": {"gochat-runc": {"path": str(wrapper)}},
            "default-runtime": "gochat-runc",
        }
        path = self.state_dir / "daemon.json"
        path.write_text(json.dumps(config, indent=2))
        return path

    def _pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None


def docker_cli() -> str:
    """Debian's client matches Debian's daemon (20.10); another `docker` may be first on PATH."""
    return "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else "docker"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _run(command: list[str]) -> None:
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise DockerdError(f"{' '.join(command)} failed: {proc.stderr.strip()}")
