"""Child processes of a control plane: started in their own session, logged, always stopped.

Each process gets its own session (and so its own process group) so that a Ctrl-C in the
terminal reaches pytest alone, and pytest decides when the servers stop. The parent-death signal
is a safety net for the case pytest itself is killed: the servers then die with it instead of
holding ports and memory on a CI machine.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import signal
import subprocess
from pathlib import Path

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclasses.dataclass
class ManagedProcess:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def is_running(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


class ProcessGroup:
    """The processes of one control plane, stopped together in reverse start order."""

    def __init__(self, *, log_dir: Path, pid_file: Path) -> None:
        self.log_dir = log_dir
        self.pid_file = pid_file
        self.processes: list[ManagedProcess] = []

    def start(
        self, name: str, command: list[str], *, env: dict[str, str] | None = None
    ) -> ManagedProcess:
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "wb") as log_file:
            popen = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        process = ManagedProcess(name=name, popen=popen, log_path=log_path)
        self.processes.append(process)
        with open(self.pid_file, "a") as pids:
            pids.write(f"{name} {popen.pid}\n")
        return process

    def exited(self) -> list[ManagedProcess]:
        return [process for process in self.processes if not process.is_running()]

    def stop(self, *, grace_seconds: float = 5.0) -> None:
        """Stop in reverse start order: SIGTERM, up to ``grace_seconds``, then SIGKILL.

        One at a time on purpose: an apiserver whose etcd is already gone spends its whole
        grace period retrying storage instead of shutting down in about a second."""
        for process in reversed(self.processes):
            if process.is_running():
                self._signal(process, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.popen.wait(timeout=grace_seconds)
            # The whole group, even after a clean exit: a server's own children must not linger.
            self._signal(process, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=5)
        self.processes.clear()

    @staticmethod
    def _signal(process: ManagedProcess, signum: int) -> None:
        # Each child leads its own session, so its process group id is its pid.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.popen.pid, signum)
