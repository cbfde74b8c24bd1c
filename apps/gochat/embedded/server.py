"""The life cycle both embedded servers share: spawn with the log in the data directory, wait
until the server says it is ready, stop with the server's own graceful signal.

Subclasses (postgres.py, nats.py) know their command line and their readiness signal; this
class knows how a child process is started, watched and stopped (see process.py).
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from gochat.embedded import process


class EmbeddedServer:
    """One child server process; `start()` is the subclass's, built on `_launch`."""

    display_name = "server"
    stop_signal: int = signal.SIGTERM  # what makes the server shut down cleanly
    # Set by subclasses in __init__:
    host: str
    port: int
    log_path: Path
    start_timeout: float
    stop_timeout: float

    _process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self.running else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """The graceful signal, then a kill after `stop_timeout`; a no-op when stopped."""
        if self._process is not None:
            process.stop_process(
                self._process, first_signal=self.stop_signal, timeout=self.stop_timeout
            )
            self._process = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _require_free_ports(self, ports: Iterable[int], *, hint: str) -> None:
        """A port already taken is usually a server left running: say which, and what to do."""
        for port in ports:
            if process.port_in_use(self.host, port):
                raise process.ServerStartError(
                    f"{self.display_name} cannot listen on {self.host}:{port}: "
                    f"the port is in use ({hint})"
                )

    def _launch(self, command: list[str], *, ready: Callable[[], bool], **spawn: Any) -> None:
        """Spawn `command` (output appended to `log_path`) and wait until `ready()`; a server
        that exits or is not ready within `start_timeout` is stopped and its log tail raised."""
        with self.log_path.open("ab") as log:
            self._process = process.spawn(command, log_file=log.fileno(), **spawn)
        if not process.wait_until(ready, timeout=self.start_timeout, alive=lambda: self.running):
            self.stop()
            raise process.ServerStartError(
                f"{self.display_name} did not start on {self.host}:{self.port}; "
                f"last lines of {self.log_path}:\n{process.log_tail(self.log_path)}"
            )
