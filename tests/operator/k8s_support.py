"""Support for the operator's tests against the real control plane: the operator as a
subprocess (as in production, and killable mid-reconcile), waiting, reading children."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import yaml

from tests.k8s import connection

ROOT = pathlib.Path(__file__).resolve().parents[2]
CRD_FILE = ROOT / "crds" / "gochatclusters.gochat.dev.yaml"
OPERATOR = pathlib.Path(sys.executable).parent / "gochat-operator"
SAMPLE = ROOT / "operator" / "deploy" / "sample-gochatcluster.yaml"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(what: str, condition: Callable[[], Any], *, timeout: float = 60) -> Any:
    """Poll `condition` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        time.sleep(0.25)


@dataclasses.dataclass
class OperatorProcess:
    """`gochat-operator run -n NAMESPACE` against the test cluster, logs in `log_path`."""

    cluster: connection.KubernetesCluster
    namespace: str
    log_path: pathlib.Path
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    metrics_port: int = 0
    health_port: int = 0

    def start(self) -> OperatorProcess:
        self.metrics_port, self.health_port = free_port(), free_port()
        env = {
            **self.cluster.env,
            "GOCHAT_OPERATOR_MIGRATION_BACKOFF": "2",
            "GOCHAT_OPERATOR_PROBLEM_BACKOFF": "1",
            "GOCHAT_OPERATOR_PROBLEM_BACKOFF_CAP": "4",
            **self.env,
        }
        command = [
            str(OPERATOR), "run", "-n", self.namespace,
            "--metrics-port", str(self.metrics_port),
            "--liveness", f"http://127.0.0.1:{self.health_port}/healthz",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_until("operator liveness endpoint", self.healthy, timeout=30)
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/healthz", timeout=1):
                return True
        except OSError:
            assert self.process is not None and self.process.poll() is None, self.log()
            return False

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    def kill(self) -> None:
        """SIGKILL: no cleanup, as when a node dies under the operator."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


# kind (as tests name it) -> (API prefix, plural)
RESOURCES = {
    "gochatcluster": ("/apis/gochat.dev/v1alpha1", "gochatclusters"),
    "deployment": ("/apis/apps/v1", "deployments"),
    "replicaset": ("/apis/apps/v1", "replicasets"),
    "job": ("/apis/batch/v1", "jobs"),
    "configmap": ("/api/v1", "configmaps"),
    "secret": ("/api/v1", "secrets"),
    "service": ("/api/v1", "services"),
    "event": ("/api/v1", "events"),
    "pod": ("/api/v1", "pods"),
    "poddisruptionbudget": ("/apis/policy/v1", "poddisruptionbudgets"),
    "networkpolicy": ("/apis/networking.k8s.io/v1", "networkpolicies"),
    "ingress": ("/apis/networking.k8s.io/v1", "ingresses"),
    "horizontalpodautoscaler": ("/apis/autoscaling/v2", "horizontalpodautoscalers"),
}
CHILD_KINDS = [
    "deployment", "service", "configmap", "job", "poddisruptionbudget", "networkpolicy",
    "horizontalpodautoscaler", "ingress", "secret",
]  # fmt: skip


class Cluster:
    """One namespace's GoChatClusters and children: reads through the Python client (fast,
    polled often), writes through kubectl (as a user would)."""

    def __init__(self, k8s: connection.KubernetesCluster, namespace: str) -> None:
        self.k8s = k8s
        self.namespace = namespace
        self.api = k8s.api_client()

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> str:
        return self.k8s.kubectl("-n", self.namespace, *args, check=check, input=input).stdout

    def _get(self, path: str, query: list[tuple[str, str]] | None = None) -> dict[str, Any] | None:
        request = self.api.param_serialize(
            method="GET", resource_path=path, query_params=query or [],
            header_params={"Accept": "application/json"}, auth_settings=["BearerToken"],
        )  # fmt: skip
        response = self.api.call_api(*request)
        data = response.read()
        if response.status == 404:
            return None
        assert response.status == 200, data
        return dict(json.loads(data))

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        prefix, plural = RESOURCES[kind]
        return self._get(f"{prefix}/namespaces/{self.namespace}/{plural}/{name}")

    def items(self, kind: str, selector: str = "") -> list[dict[str, Any]]:
        prefix, plural = RESOURCES[kind]
        query = [("labelSelector", selector)] if selector else []
        found = self._get(f"{prefix}/namespaces/{self.namespace}/{plural}", query) or {}
        return [{**item, "kind": kind} for item in found.get("items", [])]

    def apply(self, manifest: dict[str, Any]) -> None:
        self.kubectl(
            "apply", "--server-side", "--force-conflicts", "-f", "-", input=yaml.safe_dump(manifest)
        )

    def patch(self, kind: str, name: str, patch: dict[str, Any]) -> None:
        self.kubectl("patch", kind, name, "--type", "merge", "-p", json.dumps(patch))

    def create_dsn_secret(self, name: str = "chat-postgres") -> None:
        self.kubectl(
            "create",
            "secret",
            "generic",
            name,
            "--from-literal=dsn=postgresql://u:p@pg:5432/gochat",
        )

    def condition(self, name: str, kind: str) -> dict[str, Any]:
        body = self.get("gochatcluster", name) or {}
        conditions = body.get("status", {}).get("conditions", [])
        return next((c for c in conditions if c["type"] == kind), {})

    def wait_ready(self, name: str, *, generation: int | None = None, timeout: float = 60) -> dict:
        def ready() -> dict[str, Any] | None:
            body = self.get("gochatcluster", name)
            status = (body or {}).get("status", {})
            wanted = generation or (body or {}).get("metadata", {}).get("generation")
            if status.get("phase") == "Ready" and status.get("observedGeneration") == wanted:
                return body
            return None

        return dict(wait_until(f"{name} Ready", ready, timeout=timeout))

    def events(self, reason: str) -> list[dict[str, Any]]:
        return [e for e in self.items("event") if e.get("reason") == reason]


def sample(**spec: Any) -> dict[str, Any]:
    """The committed sample GoChatCluster with `spec` keys replaced."""
    body = yaml.safe_load(SAMPLE.read_text())
    body["spec"].update(spec)
    return dict(body)


def install_crd(k8s: connection.KubernetesCluster) -> None:
    k8s.apply(CRD_FILE.read_text())
    # Polled: right after creation the CRD has no conditions and `kubectl wait` fails outright.
    jsonpath = '{.status.conditions[?(@.type=="Established")].status}'

    def established() -> bool:
        found = k8s.kubectl(
            "get", "crd/gochatclusters.gochat.dev", "-o", f"jsonpath={jsonpath}", check=False
        )
        return found.stdout == "True"

    wait_until("CRD established", established, timeout=30)
