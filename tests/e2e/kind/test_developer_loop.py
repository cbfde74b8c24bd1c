"""Scenario 6, the developer loop: ``skaffold build``, then ``skaffold run`` once against the kind
cluster (backends first, then the charts/gochat release), every pod of the release Ready, then
``skaffold delete`` removes it all.

On the private dockerd (these machines) skaffold runs with the ``kind-buildah`` profile: images
come from buildah and are ``docker load``-ed, and skaffold itself runs inside the dockerd's
network namespace, where the API server is (the builds go back to the host's namespace, which
has the registries). With the user's Docker, the default profile (``docker build``) is used.
Opt-in like the rest of the tier (``GOCHAT_E2E_KIND=1``).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.kind import binaries, cache, cluster, engine, skaffold_build, tier

SERVICES = ("api", "auth", "ws", "indexer")
RELEASE = "gochat"
SKAFFOLD_CONFIG = "global:\n  collect-metrics: false\n  update-check: false\n"


pytestmark = [
    pytest.mark.slow,
    tier.only_when_requested,
    pytest.mark.kind_cluster,
    pytest.mark.timeout(3600),
]


class Skaffold:
    """skaffold against the session's cluster, with every tool it calls on PATH."""

    def __init__(self, kind_cluster: cluster.Cluster, *, private: bool) -> None:
        self.cluster = kind_cluster
        self.private = private
        versions = cache.PINNED
        tools = [
            binaries.skaffold(versions, log=print),
            binaries.skaffold_helm(versions, log=print),
            kind_cluster.kind.parent,
            kind_cluster.kubectl_path.parent,
        ]
        self.binary = tools[0] / "skaffold"
        work = kind_cluster.work_dir
        (work / "skaffold-global.yaml").write_text(SKAFFOLD_CONFIG)
        self.common = [
            f"--kube-context=kind-{kind_cluster.name}",
            "--interactive=false",
            "--update-check=false",
            *(["--profile=kind-buildah"] if private else []),
        ]
        # Kept out of the user's ~/.skaffold (not every command takes both flags).
        self.flags = {
            "build": ["--config", "--cache-file"],
            "run": ["--config", "--cache-file"],
            "delete": ["--config"],
        }
        self.paths = {
            "--config": work / "skaffold-global.yaml",
            "--cache-file": work / "skaffold-cache",
        }
        base = kind_cluster.daemon.env
        self.env = {
            **base,
            "PATH": ":".join(str(tool) for tool in tools) + ":" + base["PATH"],
            "KUBECONFIG": str(kind_cluster.kubeconfig),
            "SKAFFOLD_UPDATE_CHECK": "false",
        }
        if private:
            # Builds leave skaffold's namespace (no egress there) for this process's own.
            self.env[skaffold_build.NETNS_VARIABLE] = f"/proc/{os.getpid()}/ns/net"

    def __call__(self, *args: str, in_cluster_netns: bool = True) -> str:
        own = [f"{flag}={self.paths[flag]}" for flag in self.flags[args[0]]]
        command = [str(self.binary), *args, *self.common, *own]
        if in_cluster_netns:
            command = self.cluster.daemon.netns_command(command)
        started = time.monotonic()
        proc = subprocess.run(
            command,
            cwd=cluster.REPO,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        print(f"skaffold {args[0]}: {time.monotonic() - started:.0f}s")
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"skaffold {' '.join(args)} failed:\n{output[-6000:]}"
        return output


def release_pods(kind_cluster: cluster.Cluster) -> list[dict[str, Any]]:
    selector = f"app.kubernetes.io/instance={RELEASE}"
    out = kind_cluster.kubectl(["get", "pods", "-l", selector, "-o", "json"])
    return list(json.loads(out)["items"])


def test_skaffold_build_run_and_delete_on_the_kind_cluster(tmp_path: Path) -> None:
    choice = engine.choose(engine.probe_and_provision(print))
    if choice.engine is None:
        pytest.skip(choice.reason)
    outcome = cluster.Outcome()
    with cluster.session(wait_for_lock=cluster.LOCK_WAIT, outcome=outcome) as kind_cluster:
        kind_cluster.wait_usable()
        skaffold = Skaffold(kind_cluster, private=choice.engine is engine.Engine.PRIVATE_DOCKERD)

        # build: on the host side (buildah needs the registries), images end up in kind's Docker.
        artifacts = tmp_path / "artifacts.json"
        skaffold("build", f"--file-output={artifacts}", in_cluster_netns=False)
        builds = json.loads(artifacts.read_text())["builds"]
        assert {item["imageName"] for item in builds} == {
            "docker.io/gochat/gochat",
            "docker.io/gochat/backend-postgres",
            "docker.io/gochat/backend-nats",
        }

        # run: build again (found in skaffold's cache), load into the nodes, deploy, wait.
        output = skaffold("run", "--status-check=true")
        assert "Deployments stabilized" in output, output[-3000:]

        deployments = {f"{RELEASE}-{service}" for service in SERVICES}
        for name in sorted(deployments):
            status = json.loads(kind_cluster.kubectl(["get", "deploy", name, "-o", "json"]))
            assert status["status"].get("readyReplicas") == 1, (name, status["status"])
        component = "app.kubernetes.io/component"
        serving = [
            pod
            for pod in release_pods(kind_cluster)
            if pod["metadata"]["labels"].get(component) in SERVICES
        ]
        assert len(serving) == len(SERVICES)
        for pod in serving:
            conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
            assert conditions.get("Ready") == "True", pod["metadata"]["name"]
            image = pod["spec"]["containers"][0]["image"]
            assert image.startswith("docker.io/gochat/gochat:"), image
        statefulsets = kind_cluster.kubectl(["get", "statefulsets", "-o", "name"]).split()
        assert sorted(statefulsets) == ["statefulset.apps/nats", "statefulset.apps/postgres"]

        skaffold("delete")
        assert kind_cluster.kubectl(["get", "deploy,statefulsets", "-o", "name"]).split() == []
        gone = kind_cluster.kubectl(["get", "pods", "-l", "app.kubernetes.io/instance=gochat"])
        assert "Running" not in gone
    print(outcome.timings)
    assert outcome.host_differences == []
