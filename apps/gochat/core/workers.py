"""Several processes of one service on one port (`gochat api --workers N`).

Each worker is a full copy of the service that binds the port itself with SO_REUSEPORT, so the
kernel spreads new connections over the workers (no shared accept queue for them to race on).
The supervisor, the process that was started, holds the port bound but not listening (so a port
already in use fails at once, and nothing but our workers can join the group), starts the
workers, and:

- forwards SIGTERM/SIGINT once to every worker, which drains its own in-flight requests;
  the supervisor exits 0 once all have exited 0;
- treats a worker that exits while nobody asked it to as the service failing: it is logged,
  the other workers are stopped gracefully, and the supervisor exits non-zero. Restarting
  one worker is left to whatever restarts the service (the kubelet, systemd), so a crash loop
  shows as the pod's restarts instead of being hidden inside it;
- leaves no orphans: workers get SIGTERM if the supervisor dies (PR_SET_PDEATHSIG on Linux),
  and any still running after the grace period are killed;
- starts workers with SIGTERM/SIGINT blocked: one that arrives while a worker is still starting
  (interpreter start-up, imports, connecting) waits, pending, until the worker has installed
  its handlers and calls `accept_stop_signals()`; it then drains and exits 0, instead of dying
  of the signal's default action (exit 143) before it could.

Workers run in their own process group, so a terminal's Ctrl-C reaches them once (from the
supervisor), not twice (which uvicorn would take as "exit now, skip the drain").
Prometheus metrics are aggregated over the workers (`PROMETHEUS_MULTIPROC_DIR`).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from types import FrameType

log = logging.getLogger(__name__)

STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})
WORKER_ENV = "GOCHAT_WORKER_OF"  # set in each worker: "<index>/<count>"
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"
_PR_SET_PDEATHSIG = 1
_POLL_SECONDS = 0.1


def worker_index() -> int | None:
    """This process's index among its service's workers; None when it runs alone."""
    value = os.environ.get(WORKER_ENV)
    return int(value.split("/", 1)[0]) if value else None


def accept_stop_signals() -> None:
    """Let SIGTERM/SIGINT in (a supervised worker starts with them blocked); call it once the
    process's own handlers are installed. A signal that came meanwhile is handled now."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def hold_stop_signals() -> None:
    """Keep SIGTERM/SIGINT pending from now on (a process with nothing left to stop)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A bound TCP socket for `host:port` (not yet listening); with `reuse_port`, several
    processes of the same user may bind the same address and the kernel balances them."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(False)
    return sock


def supervise(
    *,
    service: str,
    count: int,
    command: Sequence[str],
    host: str,
    port: int,
    grace_seconds: float,
    env_for: Callable[[int], Mapping[str, str]] = lambda index: {},
) -> int:
    """Run `count` copies of `command` (each also given `env_for(index)`) until they stop;
    returns the exit status for the supervisor (see the module docstring)."""
    reserved = listening_socket(host, port, reuse_port=True)
    metrics_dir = tempfile.mkdtemp(prefix=f"gochat-{service}-metrics-")
    children: list[subprocess.Popen[bytes]] = []
    stopping: list[int] = []  # the signal that asked us to stop, once one did

    def stop_all(signum: int, _: FrameType | None = None) -> None:
        if not stopping:
            stopping.append(signum)
            for child in children:
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signum)

    previous = {sig: signal.signal(sig, stop_all) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for index in range(count):
            env = {**os.environ, **env_for(index)}
            env |= {WORKER_ENV: f"{index}/{count}", METRICS_ENV: metrics_dir}
            children.append(
                subprocess.Popen(command, env=env, process_group=0, preexec_fn=_die_with_parent)
            )
            if stopping:  # a signal came while we were starting workers
                children[-1].send_signal(stopping[0])
        log.info("workers started", extra={"service": service, "pids": [c.pid for c in children]})
        failed = _wait_for_first_exit(children, stopping)
        if failed is not None:
            stop_all(signal.SIGTERM)
        # The workers drain within `grace_seconds`; the rest is for closing pools and NATS.
        codes = _wait_all(children, deadline=time.monotonic() + grace_seconds + 10)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
        reserved.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    if failed is not None:
        return _status(failed) or 1
    return next((_status(code) for code in codes if code != 0), 0)


def _wait_for_first_exit(
    children: Sequence[subprocess.Popen[bytes]], stopping: Sequence[int]
) -> int | None:
    """Block until we are asked to stop (None) or a worker exits on its own (its code)."""
    while not stopping:
        for index, child in enumerate(children):
            code = child.poll()
            if code is not None and not stopping:
                log.error(
                    "worker exited unexpectedly; stopping the others",
                    extra={"worker": index, "pid": child.pid, "exit_code": code},
                )
                return code
        time.sleep(_POLL_SECONDS)
    return None


def _wait_all(children: Sequence[subprocess.Popen[bytes]], *, deadline: float) -> list[int]:
    codes = []
    for child in children:
        try:
            code = child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("worker did not stop in time; killing it", extra={"pid": child.pid})
            child.kill()
            code = child.wait()
        codes.append(code)
    return codes


def _status(code: int) -> int:
    """A child's return code as a shell would report it (killed by signal N: 128 + N)."""
    return 128 - code if code < 0 else code


def _die_with_parent() -> None:
    """In the worker, before exec: stop signals held until it can drain (the mask survives
    exec), and SIGTERM when the supervisor dies, however it dies."""
    hold_stop_signals()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
