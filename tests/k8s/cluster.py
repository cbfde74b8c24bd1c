"""A real Kubernetes control plane on 127.0.0.1, with KWOK playing the nodes.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok run as child processes of
the test session, each on free ports, with logs, PKI and data under ``run_dir``. Two sessions
side by side do not share anything but the binaries.

    plane = LocalControlPlane(run_dir=tmp, bin_dir=tools.ensure())
    try:
        cluster = plane.start()      # ready: /readyz ok, nodes Ready, default ServiceAccount
        cluster.kubectl("get", "nodes")
    finally:
        plane.stop()
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import components, connection, kwok, pki, processes


class ControlPlaneError(RuntimeError):
    """The control plane did not come up; the message includes the failing process's log tail."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalControlPlane:
    def __init__(
        self,
        *,
        run_dir: Path,
        bin_dir: Path,
        nodes: int = 1,
        start_timeout: float = 120.0,
        log: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.run_dir = run_dir
        self.bin_dir = bin_dir
        self.node_count = nodes
        self.start_timeout = start_timeout
        self.log = log
        self.kubeconfig = run_dir / "admin.kubeconfig"
        self.server = ""
        self.timings: dict[str, float] = {}
        self.processes = processes.ProcessGroup(log_dir=run_dir / "logs", pid_file=run_dir / "pids")
        self._pki: pki.Pki | None = None
        self._opener: urllib.request.OpenerDirector | None = None

    @property
    def cluster(self) -> connection.KubernetesCluster:
        return connection.KubernetesCluster(
            kubeconfig=self.kubeconfig,
            server=self.server,
            bin_dir=self.bin_dir,
            simulated_nodes=True,
        )

    def start(self) -> connection.KubernetesCluster:
        """Start everything and wait until workloads can run; on any failure stop what started.

        A free port is only free when it is chosen: if another process binds it before our
        server does, the start is retried once with new ports."""
        for attempt in (1, 2):
            try:
                self._start()
                return self.cluster
            except ControlPlaneError as error:
                self.stop()
                if attempt == 2 or "address already in use" not in str(error):
                    raise
                self.log(f"k8s control plane: a port was taken meanwhile, retrying: {error}")
                shutil.rmtree(self.run_dir / "etcd", ignore_errors=True)
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        self.processes.stop()

    def __enter__(self) -> connection.KubernetesCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _start(self) -> None:
        started = time.monotonic()
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        self._pki = credentials = pki.generate(self.run_dir / "pki")
        self._opener = None  # a retry has a new CA: the old TLS context would trust nothing
        etcd_port, apiserver_port = free_port(), free_port()
        self.server = f"https://127.0.0.1:{apiserver_port}"
        pki.write_kubeconfig(
            self.kubeconfig,
            server=self.server,
            ca=credentials.ca.cert,
            client=credentials.admin,
            user="admin",
        )
        self._phase("pki", started)

        self.processes.start(
            "etcd",
            components.etcd(
                bin_dir=self.bin_dir,
                data_dir=self.run_dir / "etcd",
                client_port=etcd_port,
                peer_port=free_port(),
            ),
        )
        self.processes.start(
            "kube-apiserver",
            components.kube_apiserver(
                bin_dir=self.bin_dir,
                credentials=credentials,
                port=apiserver_port,
                etcd_port=etcd_port,
                cert_dir=self.run_dir / "apiserver-certs",
            ),
        )
        self._wait_for("apiserver /readyz", lambda: self._get("/readyz") is not None)
        self._phase("apiserver ready", started)

        self.processes.start(
            "kube-controller-manager",
            components.kube_controller_manager(
                bin_dir=self.bin_dir,
                credentials=credentials,
                kubeconfig=self._component_kubeconfig(
                    "controller-manager", credentials.controller_manager
                ),
                port=free_port(),
                cert_dir=self.run_dir / "controller-manager-certs",
            ),
        )
        self.processes.start(
            "kube-scheduler",
            components.kube_scheduler(
                bin_dir=self.bin_dir,
                kubeconfig=self._component_kubeconfig("scheduler", credentials.scheduler),
                port=free_port(),
            ),
        )
        kwok_home = self.run_dir / "kwok-home"  # keeps kwok away from the user's ~/.kwok
        kwok_home.mkdir(exist_ok=True)
        self.processes.start(
            "kwok",
            components.kwok(
                bin_dir=self.bin_dir,
                kubeconfig=self.kubeconfig,
                config=kwok.write_config(self.run_dir / "kwok.yaml"),
            ),
            env={"HOME": str(kwok_home), "PATH": "/usr/bin:/bin"},
        )
        self.cluster.kubectl("create", "-f", "-", input=kwok.nodes_manifest(self.node_count))
        self._wait_for("fake nodes Ready", self._nodes_ready)
        self._wait_for(
            "default ServiceAccount",
            lambda: self._get("/api/v1/namespaces/default/serviceaccounts/default") is not None,
        )
        self._phase("ready", started)
        self.log(f"k8s control plane ready at {self.server} in {self.timings['ready']:.1f}s")

    def _phase(self, name: str, started: float) -> None:
        self.timings[name] = round(time.monotonic() - started, 2)

    def _component_kubeconfig(self, name: str, client: pki.KeyPair) -> Path:
        assert self._pki is not None
        return pki.write_kubeconfig(
            self.run_dir / f"{name}.kubeconfig",
            server=self.server,
            ca=self._pki.ca.cert,
            client=client,
            user=name,
        )

    def _api_opener(self) -> urllib.request.OpenerDirector:
        """Admin TLS, and no proxy: an HTTPS_PROXY in the environment must not catch loopback."""
        if self._opener is None:
            assert self._pki is not None
            context = ssl.create_default_context(cafile=str(self._pki.ca.cert))
            context.load_cert_chain(str(self._pki.admin.cert), str(self._pki.admin.key))
            self._opener = urllib.request.build_opener(
                urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
            )
        return self._opener

    def _get(self, path: str) -> Any:
        """The decoded body of a 200 answer, or None for any error (not up yet, 404...)."""
        try:
            with self._api_opener().open(self.server + path, timeout=5) as response:
                body = response.read()
        except (urllib.error.URLError, OSError):
            return None
        try:
            return json.loads(body)
        except ValueError:
            return body.decode(errors="replace")

    def _nodes_ready(self) -> bool:
        nodes = self._get("/api/v1/nodes")
        if not isinstance(nodes, dict):
            return False
        ready = [
            node
            for node in nodes.get("items", [])
            for condition in node.get("status", {}).get("conditions", [])
            if condition["type"] == "Ready" and condition["status"] == "True"
        ]
        return len(ready) >= self.node_count

    def _wait_for(self, what: str, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            dead = self.processes.exited()
            if dead:
                process = dead[0]
                raise ControlPlaneError(
                    f"{process.name} exited ({process.popen.returncode}) while waiting for "
                    f"{what}; {process.log_path}:\n{process.log_tail()}"
                )
            if condition():
                return
            time.sleep(0.1)
        tails = "\n".join(f"--- {p.name}:\n{p.log_tail(10)}" for p in self.processes.processes)
        raise ControlPlaneError(
            f"timed out after {self.start_timeout:.0f}s waiting for {what}\n{tails}"
        )
