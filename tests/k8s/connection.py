"""What a test gets: one Kubernetes cluster to talk to, local or existing (kind, a CI cluster).

The same object is handed out whether the harness started the control plane itself or
``GOCHAT_TEST_KUBECONFIG`` points at a cluster somebody else runs.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

LOOPBACK_HOSTS = ("127.0.0.1", "localhost")


class ClusterCommandError(RuntimeError):
    """kubectl or helm exited non-zero; the message carries the command and its stderr."""


@dataclasses.dataclass(frozen=True)
class KubernetesCluster:
    kubeconfig: Path
    server: str
    # Where kubectl/helm come from; None means whatever is on PATH (the kind path).
    bin_dir: Path | None = None
    # True when KWOK with this harness's stages plays the nodes: pods "run" any image, Job pods
    # succeed, and pods labelled kwok.gochat.dev/fail=true fail. False on kind or a real cluster.
    simulated_nodes: bool = False

    @classmethod
    def from_kubeconfig(cls, kubeconfig: Path, *, bin_dir: Path | None = None) -> KubernetesCluster:
        return cls(kubeconfig=kubeconfig, server=current_server(kubeconfig), bin_dir=bin_dir)

    @property
    def env(self) -> dict[str, str]:
        """Environment for a subprocess (operator, helm, kubectl) that must reach this cluster."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        # Python clients (kubernetes, kopf's login) honour HTTPS_PROXY even for 127.0.0.1.
        for name in ("NO_PROXY", "no_proxy"):
            env[name] = ",".join(filter(None, [env.get(name), *LOOPBACK_HOSTS]))
        if self.bin_dir is not None:
            env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        return env

    def binary(self, name: str) -> str:
        if self.bin_dir is not None and (self.bin_dir / name).exists():
            return str(self.bin_dir / name)
        found = shutil.which(name)
        if found is None:
            raise ClusterCommandError(f"{name} not found (run `make k8s-tools`)")
        return found

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster; text output; raises ClusterCommandError if check."""
        return self._run("kubectl", args, check=check, input=input, timeout=timeout)

    def helm(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return self._run("helm", args, check=check, input=input, timeout=timeout)

    def apply(self, manifest: str | dict[str, Any], *, namespace: str | None = None) -> None:
        """Server-side ``kubectl apply`` of a YAML string or one object (as dict)."""
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
        namespace_args = ["-n", namespace] if namespace else []
        self.kubectl(
            "apply", "--server-side", "--force-conflicts", *namespace_args, "-f", "-", input=text
        )

    def get_json(self, *args: str) -> Any:
        """``kubectl get ARGS -o json`` parsed."""
        return yaml.safe_load(self.kubectl("get", *args, "-o", "json").stdout)

    def api_client(self) -> Any:
        """A fresh ``kubernetes.client.ApiClient`` for this cluster (the sync client)."""
        # Imported here: only operator tests need the client.
        from kubernetes import client, config

        configuration = client.Configuration()
        config.load_kube_config(
            config_file=str(self.kubeconfig), client_configuration=configuration
        )
        if urllib.parse.urlsplit(self.server).hostname in LOOPBACK_HOSTS:
            configuration.proxy = None  # the client would otherwise take HTTPS_PROXY
        return client.ApiClient(configuration)

    def _run(
        self, tool: str, args: tuple[str, ...], *, check: bool, input: str | None, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        command = [self.binary(tool), *args]
        proc = subprocess.run(
            command,
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise ClusterCommandError(
                f"{tool} {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}"
            )
        return proc


def current_server(kubeconfig: Path) -> str:
    config = yaml.safe_load(kubeconfig.read_text())
    contexts = {item["name"]: item["context"] for item in config.get("contexts", [])}
    clusters = {item["name"]: item["cluster"] for item in config.get("clusters", [])}
    context = contexts[config["current-context"]]
    return str(clusters[context["cluster"]]["server"])
