"""Process plumbing shared by the embedded servers and the `gochat dev` supervisor.

Children are started in their own session, so a Ctrl-C in the terminal reaches only the
supervisor, which then stops them in order instead of having everything die at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

_PR_SET_PDEATHSIG = 1


class ServerStartError(RuntimeError):
    """A server did not come up; the message carries the tail of its log."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (good enough for tests and dev)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((host, port)) == 0


def log_tail(path: Path, *, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def wait_until(
    ready: Callable[[], bool],
    *,
    timeout: float,
    alive: Callable[[], bool] = lambda: True,
    interval: float = 0.05,
) -> bool:
    """Poll `ready` until it holds; False on timeout or as soon as `alive` says the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return True
        if not alive():
            return False
        time.sleep(interval)
    return ready()


def _die_with_parent(sig: int) -> Callable[[], None]:
    def set_parent_death_signal() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig)

    return set_parent_death_signal


def spawn(
    command: list[str],
    *,
    log_file: int | None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: pwd.struct_passwd | None = None,
    parent_death_signal: int = signal.SIGTERM,
) -> subprocess.Popen[bytes]:
    """Start `command` in a new session, output to `log_file` (a pipe when None).

    The child also gets `parent_death_signal` if this supervisor is killed outright, so even
    a `kill -9` leaves no orphans. The kernel ties that signal to the spawning *thread*, so it
    is only armed from the main thread (a worker thread may exit while the child should live).
    """
    preexec = None
    if threading.current_thread() is threading.main_thread():
        preexec = _die_with_parent(parent_death_signal)
    output = subprocess.PIPE if log_file is None else log_file
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=cwd,
        start_new_session=True,
        preexec_fn=preexec,
        user=None if user is None else user.pw_uid,
        group=None if user is None else user.pw_gid,
        extra_groups=None if user is None else [],
    )


def stop_process(
    process: subprocess.Popen[bytes],
    *,
    first_signal: int = signal.SIGTERM,
    timeout: float = 10.0,
) -> int:
    """Ask politely, wait up to `timeout`, then kill the child's whole process group."""
    stop_processes([process], first_signal=first_signal, timeout=timeout)
    return process.returncode


def stop_processes(
    processes: list[subprocess.Popen[bytes]],
    *,
    first_signal: int = signal.SIGTERM,
    timeout: float = 10.0,
) -> None:
    """Signal every process once (a second SIGINT makes some servers skip their clean-up),
    share one deadline among them, then kill each process group that is left."""
    for child in processes:
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(first_signal)
    deadline = time.monotonic() + timeout
    for child in processes:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        # Grandchildren (a server's workers) share the group; none may outlive their parent.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)


def running_as_root() -> bool:
    return os.geteuid() == 0


def ensure_system_user(name: str) -> pwd.struct_passwd:
    """The unprivileged account a server runs as when we are root (PostgreSQL refuses root)."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=False,
            capture_output=True,
        )
        return pwd.getpwnam(name)  # a concurrent useradd may have won; either way it exists


def chown_tree(path: Path, user: pwd.struct_passwd) -> None:
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.lchown(Path(root) / name, user.pw_uid, user.pw_gid)
    os.chown(path, user.pw_uid, user.pw_gid)


def stop_leftover_server(
    pid_file: Path, *, command_name: str, stop_signal: int, timeout: float
) -> None:
    """Deal with the pid file of an earlier run that was killed outright.

    When the pid still belongs to a `command_name` process, it is our server orphaned by a
    crashed supervisor (the pid file sits in our data directory): stop it, so that this start
    applies the port and settings asked for now. Otherwise the file is stale (the pid may
    since belong to another program) and is removed.
    """
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (FileNotFoundError, ValueError):
        return
    if _is_running(pid, command_name):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, stop_signal)
        if not wait_until(lambda: not _is_running(pid, command_name), timeout=timeout):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)


def _is_running(pid: int, command_name: str) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    name, _, rest = state.partition(") ")
    # /proc shows at most 15 characters of the name; a zombie has already stopped.
    return name.endswith(f"({command_name[:15]}") and not rest.startswith("Z")
