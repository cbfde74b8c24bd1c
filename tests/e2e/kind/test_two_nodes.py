"""Two kind nodes on the private dockerd: a pod on the worker reaches, through a Service name, a
pod on the control plane, over the harness's own pod network (cni.yaml; kindnet is not built here).

Opt-in like the rest of the tier (``GOCHAT_E2E_KIND=1``).
"""

from __future__ import annotations

import ipaddress
import json

import pytest

from tests.e2e.kind import cache, cluster, engine, node_image, tier

IMAGE = f"{node_image.HELPER_IMAGE}:{cache.PINNED.debian}"
CONTROL_PLANE = "gochat-control-plane"
WORKER = "gochat-worker"

MANIFESTS = f"""
apiVersion: v1
kind: Pod
metadata: {{name: echo, labels: {{app: echo}}}}
spec:
  nodeName: {CONTROL_PLANE}
  tolerations: [{{operator: Exists}}]
  terminationGracePeriodSeconds: 1
  containers:
  - name: echo
    image: {IMAGE}
    imagePullPolicy: Never
    env: [{{name: NODE, valueFrom: {{fieldRef: {{fieldPath: spec.nodeName}}}}}}]
    command: [socat, "TCP-LISTEN:8080,fork,reuseaddr", "SYSTEM:echo served from $NODE"]
    readinessProbe: {{tcpSocket: {{port: 8080}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: echo}}
spec:
  selector: {{app: echo}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: client}}
spec:
  nodeName: {WORKER}
  restartPolicy: Never
  containers:
  - name: client
    image: {IMAGE}
    imagePullPolicy: Never
    command:
    - bash
    - -c
    - |
      for i in $(seq 60); do
        out=$(socat -T3 - TCP:echo.default.svc.cluster.local:80 </dev/null 2>/dev/null)
        [ -n "$out" ] && echo "$out" && exit 0
        sleep 1
      done
      exit 1
"""


pytestmark = [
    pytest.mark.slow,
    tier.only_when_requested,
    pytest.mark.kind_cluster,
    pytest.mark.timeout(3600),
]


def test_a_pod_on_the_worker_reaches_a_service_backed_on_the_control_plane() -> None:
    choice = engine.choose(engine.probe_and_provision(print))
    if choice.engine is not engine.Engine.PRIVATE_DOCKERD:
        pytest.skip(f"this checks the private dockerd's own pod network: {choice.reason}")
    outcome = cluster.Outcome()
    config = cluster.REPO / "kind-config-two-nodes.yaml"
    with cluster.session(
        config_path=config, workers=True, wait_for_lock=cluster.LOCK_WAIT, outcome=outcome
    ) as kind_cluster:
        kind_cluster.wait_usable()
        nodes = json.loads(kind_cluster.kubectl(["get", "nodes", "-o", "json"]))["items"]
        cidrs = {node["metadata"]["name"]: node["spec"]["podCIDR"] for node in nodes}
        assert sorted(cidrs) == [CONTROL_PLANE, WORKER]
        assert cidrs[CONTROL_PLANE] != cidrs[WORKER]

        kind_cluster.kubectl(["apply", "-f", "-"], stdin=MANIFESTS)
        kind_cluster.kubectl(["wait", "--for=condition=Ready", "pod/echo", "--timeout=120s"])
        done = "--for=jsonpath={.status.phase}=Succeeded"
        kind_cluster.kubectl(["wait", done, "pod/client", "--timeout=180s"])
        assert kind_cluster.kubectl(["logs", "pod/client"]).strip() == (
            f"served from {CONTROL_PLANE}"
        )
        for pod, node in (("echo", CONTROL_PLANE), ("client", WORKER)):
            ip = kind_cluster.kubectl(["get", "pod", pod, "-o", "jsonpath={.status.podIP}"])
            assert ipaddress.ip_address(ip) in ipaddress.ip_network(cidrs[node]), (pod, ip)
    print(outcome.timings)
    assert outcome.host_differences == []
