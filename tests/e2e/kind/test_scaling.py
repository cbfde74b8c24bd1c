"""Scenario 4, scaling: the ws HorizontalPodAutoscaler scales on the WebSocket connections metric
up and back down, and the operator leaves HPA-managed replicas alone.

The metrics path is what a platform team runs (deploy/metrics/): Prometheus (Kubernetes pod
discovery) scraping GoChat's pods, and prometheus-adapter serving `gochat_ws_connections` per pod on
custom.metrics.k8s.io. The ws HPA of charts/gochat (and of the operator) reads that Pods metric.
This cluster has no metrics-server, so both install the HPA without its CPU target (an HPA with a
metric it cannot read scales up on the others but never down).

- Helm path: charts/gochat with ws autoscaling on (1..3 replicas, 20 connections per pod, CPU
  target null, scale-down stabilization window SCALE_DOWN_WINDOW s); a Job holds 60 identified
  WebSocket sessions through the ws Service (all on its one pod), the metric reports 60 there,
  and the HPA scales the Deployment up until its new pods are Ready with every session still
  open. The Job ends; within SCALE_DOWN_WAIT s the HPA is back at one Ready replica.
- Operator path: a GoChatCluster with ws autoscaling on (CPU target 0) and scale-down Disabled
  in its `behavior`; the HPA scales ws up the same way, then a spec change makes the operator
  apply the ws Deployment again: spec.replicas stays what the HPA set (scale-down being disabled,
  nothing else can move it), and no field manager of the operator owns it. Then the behavior
  change (scale-down allowed) reaches the HPA through the operator, ws scales down to 1, and
  the operator still does not set the replicas its spec names (2).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from gochat.contract import images as image_names
from gochat.contract import metrics as catalogue
from gochat.contract import services as contract
from tests.e2e import user_flow
from tests.e2e.kind import access, backends, metrics_images, platform, test_helm_path

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

METRIC = "gochat_ws_connections"
TARGET_PER_POD = 20
CONNECTIONS = 60  # on one pod: 60 / 20 -> 3 replicas wanted (the maximum)
MAX_REPLICAS = 3
SCALE_DOWN_WINDOW = 15  # behavior.scaleDown.stabilizationWindowSeconds (Kubernetes: 300)
# Holder gone -> one replica: metric scrape (5 s) and HPA sync (15 s), the window, then one
# step down (the default policy removes up to 100% per 15 s); slack for the loaded machine.
SCALE_DOWN_WAIT = 180
APISERVICE = "apiservice/v1beta1.custom.metrics.k8s.io"


def test_the_adapter_serves_the_metric_the_hpas_read_from_the_images_built() -> None:
    """No cluster needed: deploy/metrics/ names what the chart, the operator and the builder
    name (a rename in one of them would leave the HPA without a metric)."""
    manifests = metrics_images.DEPLOY
    adapter = list(yaml.safe_load_all((manifests / "adapter.yaml").read_text()))
    config = next(d for d in adapter if d["kind"] == "ConfigMap")["data"]["config.yaml"]
    [rule] = yaml.safe_load(config)["rules"]
    assert rule["name"]["as"] == METRIC == catalogue.WS_CONNECTIONS.name
    assert rule["seriesQuery"].startswith(METRIC + "{")
    assert set(rule["resources"]["overrides"]) == {"namespace", "pod"}
    chart_hpa = (test_helm_path.CHART / "templates" / "autoscaling.yaml").read_text()
    assert f"name: {METRIC}" in chart_hpa
    images = {
        container["image"]
        for path in ("prometheus.yaml", "adapter.yaml")
        for doc in yaml.safe_load_all((manifests / path).read_text())
        if doc["kind"] == "Deployment"
        for container in doc["spec"]["template"]["spec"]["containers"]
    }
    assert images == {image.reference for image in metrics_images.IMAGES}


@pytest.fixture(scope="module")
def metrics_path(kube: access.ClusterAccess) -> Iterator[None]:
    """deploy/metrics/ applied and custom.metrics.k8s.io Available; removed afterwards (an
    APIService left without its server would break discovery for every later test)."""
    started = time.monotonic()
    kube.load(*metrics_images.ensure_images().values())
    manifests = metrics_images.DEPLOY
    try:
        kube.kubectl("apply", "-f", str(manifests / "prometheus.yaml"))
        kube.kubectl("apply", "-f", str(manifests / "adapter.yaml"))
        for workload in ("deploy/prometheus", "deploy/prometheus-adapter"):
            kube.kubectl(
                "-n", "gochat-metrics", "rollout", "status", workload, "--timeout=180s"
            )  # fmt: skip
        kube.kubectl("wait", APISERVICE, "--for=condition=Available", "--timeout=120s")
        print(f"metrics path ready in {time.monotonic() - started:.0f}s")
        yield
    finally:
        kube.kubectl("delete", "-f", str(manifests / "adapter.yaml"), "--wait=false", check=False)
        kube.kubectl(
            "delete", "-f", str(manifests / "prometheus.yaml"), "--wait=false", check=False
        )


def pods_metric(kube: access.ClusterAccess, namespace: str) -> dict[str, float]:
    """gochat_ws_connections per pod as the HPA reads it (custom.metrics.k8s.io)."""
    path = f"/apis/custom.metrics.k8s.io/v1beta1/namespaces/{namespace}/pods/*/{METRIC}"
    proc = kube.run([str(kube.kubectl_path), "get", "--raw", path], check=False)
    if proc.returncode != 0:
        return {}
    return {
        item["describedObject"]["name"]: _quantity(item["value"])
        for item in json.loads(proc.stdout)["items"]
    }


def _quantity(value: str) -> float:
    if value.endswith("m"):
        return float(value[:-1]) / 1000
    return float(value)


def wait_for_metric(kube: access.ClusterAccess, namespace: str, *, timeout: float = 180) -> None:
    """Until every Ready ws pod has a value on custom.metrics.k8s.io."""
    deadline = time.monotonic() + timeout
    while True:
        pods = ws_pods(kube, namespace)
        served = pods_metric(kube, namespace)
        if pods and set(pods) <= set(served):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{METRIC} not served for {pods}: {served}")
        time.sleep(3)


def ws_pods(kube: access.ClusterAccess, namespace: str) -> list[str]:
    pods = platform.component_pods(kube, namespace)
    return [name for name, component in pods.items() if component == "ws"]


# Runs in a Job on the GoChat image: holds COUNT identified sessions through the ws Service and
# fails if any closes. Inside the cluster because 60 sessions held from the test through one
# kubectl port-forward were all dropped at once (no close frame) in 2 of 4 runs: an error on
# any one forwarded connection makes kubectl close them all (docs/testing-kubernetes.md).
HOLDER = """
import asyncio, os
from gochat.client import gateway

async def main():
    clients = []
    for _ in range(int(os.environ["COUNT"])):
        client = await gateway.GatewayClient.connect(os.environ["WS_URL"])
        await client.identify(os.environ["TOKEN"])
        clients.append(client)
    print("HELD", len(clients), flush=True)
    while True:
        await asyncio.sleep(2)
        closed = [(c.close_code, c.close_reason) for c in clients if c.ws.close_code is not None]
        if closed:
            print("CLOSED", len(closed), closed[:3], flush=True)
            raise SystemExit(1)

asyncio.run(main())
"""


HOLDER_JOB = "ws-holder"


@contextlib.contextmanager
def held_connections(
    kube: access.ClusterAccess, namespace: str, *, prefix: str, image: str, token: str
) -> Iterator[str]:
    """CONNECTIONS sessions held by a Job until the block ends; yields the Job's name."""
    name = HOLDER_JOB
    url = f"ws://{prefix}-ws.{namespace}.svc:{contract.PORTS['ws']}{contract.WS_PATH}"
    backends.start_python_job(
        kube, namespace=namespace, name=name, image=image, script=HOLDER,
        env={"WS_URL": url, "TOKEN": token, "COUNT": str(CONNECTIONS)},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while f"HELD {CONNECTIONS}" not in (logs := holder_logs(kube, namespace, name)):
            if time.monotonic() > deadline or "Traceback" in logs:
                raise AssertionError(f"{CONNECTIONS} sessions not held in 120 s: {logs}")
            time.sleep(2)
        yield name
    finally:
        kube.kubectl("-n", namespace, "delete", f"job/{name}", "--wait=false", check=False)


def holder_logs(kube: access.ClusterAccess, namespace: str, name: str) -> str:
    return backends.job_logs(kube, namespace=namespace, name=name)


def wait_scaled_up(
    kube: access.ClusterAccess, namespace: str, name: str, *, timeout: float = 300
) -> dict[str, Any]:
    """Until the HPA `name` wants more than one replica and the Deployment has them all Ready;
    the HPA's last status."""
    deadline = time.monotonic() + timeout
    while True:
        hpa = kube.get_json(f"hpa/{name}", "-n", namespace)
        deployment = kube.get_json(f"deploy/{name}", "-n", namespace)
        desired = hpa.get("status", {}).get("desiredReplicas", 0)
        ready = deployment.get("status", {}).get("readyReplicas", 0)
        if desired > 1 and deployment["spec"]["replicas"] == desired and ready == desired:
            return dict(hpa["status"])
        if time.monotonic() > deadline:
            conditions = hpa.get("status", {}).get("conditions", [])
            raise AssertionError(
                f"{name} not scaled up: desired {desired}, ready {ready}, "
                f"metric {pods_metric(kube, namespace)}, conditions {json.dumps(conditions)}"
            )
        time.sleep(3)


def scale_up_with_connections(
    kube: access.ClusterAccess, namespace: str, prefix: str, *, user: str, image: str
) -> dict[str, Any]:
    """Sign a user up, hold CONNECTIONS sessions on one ws pod; the HPA status once ws has
    scaled up and its pods are Ready (the sessions are closed on return)."""
    with (
        platform.endpoints(kube, namespace, prefix) as endpoints,
        httpx.Client(base_url=endpoints.auth, timeout=30) as auth,
    ):
        signed = user_flow.sign_up(auth, platform.mail_reader(kube, namespace), user)
    with held_connections(
        kube, namespace, prefix=prefix, image=image, token=signed.token
    ) as holder:
        wait_for_count(kube, namespace)
        status = wait_scaled_up(kube, namespace, f"{prefix}-ws")
        served = pods_metric(kube, namespace)
        logs = holder_logs(kube, namespace, holder)
        assert "CLOSED" not in logs, (logs, status)
        # Every session still open and counted, now on one of the scaled-up pods.
        assert sum(served.values()) == CONNECTIONS, (served, status)
        assert len(ws_pods(kube, namespace)) == status["desiredReplicas"], status
        return status


def wait_holder_gone(kube: access.ClusterAccess, namespace: str, *, timeout: float = 120) -> None:
    """Until no pod of the holder Job is left (its sessions closed with it)."""
    deadline = time.monotonic() + timeout
    selector = f"--selector=job-name={HOLDER_JOB}"
    while kube.get_json("pods", "-n", namespace, selector)["items"]:
        if time.monotonic() > deadline:
            raise AssertionError(f"the {HOLDER_JOB} pod is still there after {timeout:.0f} s")
        time.sleep(2)


def wait_scaled_down(
    kube: access.ClusterAccess, namespace: str, name: str, *, timeout: float = SCALE_DOWN_WAIT
) -> float:
    """Once the holder's pod is gone (its sessions closed): seconds until the HPA `name` is back
    at its minReplicas, the Deployment's replicas all Ready, the HPA able to read its metrics."""
    wait_holder_gone(kube, namespace)
    started = time.monotonic()
    while True:
        hpa = kube.get_json(f"hpa/{name}", "-n", namespace)
        deployment = kube.get_json(f"deploy/{name}", "-n", namespace)
        minimum, status = hpa["spec"]["minReplicas"], hpa.get("status", {})
        replicas = deployment.get("status", {})
        if (
            status.get("currentReplicas") == status.get("desiredReplicas") == minimum
            and deployment["spec"]["replicas"] == minimum
            and replicas.get("replicas") == replicas.get("readyReplicas") == minimum
        ):
            conditions = {c["type"]: c for c in status.get("conditions", [])}
            assert conditions["ScalingActive"]["status"] == "True", conditions
            assert [m["type"] for m in hpa["spec"]["metrics"]] == ["Pods"], hpa["spec"]
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(
                f"{name} not back at {minimum} replica(s) {timeout:.0f} s after the sessions "
                f"closed: HPA {json.dumps(status)}, Deployment {json.dumps(replicas)}, "
                f"metric {pods_metric(kube, namespace)}"
            )
        time.sleep(3)


def image_ref(gochat_images: dict[str, str]) -> str:
    return f"{image_names.SERVICES}:{gochat_images[image_names.SERVICES]}"


def wait_for_count(kube: access.ClusterAccess, namespace: str, *, timeout: float = 60) -> None:
    """Until custom.metrics.k8s.io reports CONNECTIONS on the pod holding them (the
    port-forward sends every connection to one pod)."""
    deadline = time.monotonic() + timeout
    while True:
        served = pods_metric(kube, namespace)
        if served and max(served.values()) == CONNECTIONS:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{METRIC} never reported {CONNECTIONS} on one pod: {served}")
        time.sleep(2)


def test_helm_ws_hpa_scales_up_on_connections_and_back_down(
    kube: access.ClusterAccess, gochat_images: dict[str, str], metrics_path: None
) -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()
    release = test_helm_path.RELEASE
    with backends.namespace(kube, "e2e-scaling") as namespace:
        deployed = backends.deploy(kube, namespace)
        values = test_helm_path._values(deployed, gochat_images[image_names.SERVICES])
        scaling = {
            "enabled": "true",
            "minReplicas": "1",
            "maxReplicas": str(MAX_REPLICAS),
            "targetConnectionsPerPod": str(TARGET_PER_POD),
            "targetCpuUtilization": "null",  # no metrics-server here
            "behavior.scaleDown.stabilizationWindowSeconds": str(SCALE_DOWN_WINDOW),
        }
        for key, value in scaling.items():
            values += ["--set", f"components.ws.autoscaling.{key}={value}"]
        kube.helm(
            "install", release, str(test_helm_path.CHART), "-n", namespace, *values,
            "--wait", "--timeout", "300s",
        )  # fmt: skip
        timings["helm install --wait"] = time.monotonic() - started
        wait_for_metric(kube, namespace)
        timings["metric served"] = time.monotonic() - started
        assert len(ws_pods(kube, namespace)) == 1

        status = scale_up_with_connections(
            kube, namespace, release, user="scaler", image=image_ref(gochat_images)
        )
        timings["scaled up"] = time.monotonic() - started
        assert status["desiredReplicas"] == MAX_REPLICAS, status
        # The holder Job is gone: no connections left, the HPA scales back down.
        timings["scaled down after the sessions closed"] = wait_scaled_down(
            kube, namespace, f"{release}-ws"
        )
        kube.helm("uninstall", release, "-n", namespace, "--wait")
    print({step: round(seconds) for step, seconds in timings.items()})


def test_operator_leaves_hpa_managed_ws_replicas_alone(
    kube: access.ClusterAccess, gochat_images: dict[str, str], metrics_path: None
) -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()
    with (
        backends.namespace(kube, "e2e-scaling-op-system") as system,
        backends.namespace(kube, "e2e-scaling-op") as namespace,
    ):
        platform.install_operator(kube, system, tag=gochat_images[image_names.OPERATOR])
        deployed = backends.deploy(kube, namespace)
        version = gochat_images[image_names.SERVICES]
        cluster = platform.gochat_cluster(version=version, deployed=deployed)
        spec: Any = cluster["spec"]
        spec["components"]["ws"] = {
            "replicas": 2,  # ignored with autoscaling on: the HPA owns replicas
            "autoscaling": {
                "enabled": True,
                "minReplicas": 1,
                "maxReplicas": MAX_REPLICAS,
                "targetCpuUtilization": 0,  # no metrics-server here
                "targetConnectionsPerPod": TARGET_PER_POD,
                # Held at its scaled-up size until the re-apply below has been checked.
                "behavior": {
                    "scaleDown": {
                        "stabilizationWindowSeconds": SCALE_DOWN_WINDOW,
                        "selectPolicy": "Disabled",
                    }
                },
            },
        }
        kube.kubectl("apply", "-f", "-", stdin=json.dumps(cluster))
        kube.kubectl(
            "-n", namespace, "wait", "gochatcluster/chat", "--for=condition=Ready",
            "--timeout=300s",
        )  # fmt: skip
        timings["GoChatCluster Ready"] = time.monotonic() - started
        wait_for_metric(kube, namespace)

        status = scale_up_with_connections(
            kube, namespace, "chat", user="opscaler", image=image_ref(gochat_images)
        )
        scaled = status["desiredReplicas"]
        assert scaled == MAX_REPLICAS, status
        timings["scaled up"] = time.monotonic() - started

        # A spec change to ws: the operator applies its Deployment again (a new pod template).
        generation = kube.get_json("gochatcluster/chat", "-n", namespace)["metadata"]
        patch = {"spec": {"components": {"ws": {"podAnnotations": {"e2e.gochat.dev/touch": "1"}}}}}
        kube.kubectl(
            "-n", namespace, "patch", "gochatcluster/chat", "--type=merge", "-p", json.dumps(patch)
        )
        wait_reconciled(kube, namespace, after=generation["generation"])
        kube.kubectl("-n", namespace, "rollout", "status", "deploy/chat-ws", "--timeout=300s")
        deployment = kube.get_json("deploy/chat-ws", "-n", namespace, "--show-managed-fields")
        template = deployment["spec"]["template"]["metadata"].get("annotations", {})
        assert template.get("e2e.gochat.dev/touch") == "1", "the operator did not re-apply ws"
        assert deployment["spec"]["replicas"] == scaled, deployment["spec"]
        assert "gochat-operator" not in replica_managers(deployment)
        timings["re-applied, replicas kept"] = time.monotonic() - started

        # Scale-down allowed: the operator applies the HPA's new behavior, the HPA (its
        # sessions long closed) scales ws down, and the operator still sets no replicas.
        generation = kube.get_json("gochatcluster/chat", "-n", namespace)["metadata"]
        allow = {"behavior": {"scaleDown": {"selectPolicy": None}}}
        patch = {"spec": {"components": {"ws": {"autoscaling": allow}}}}
        kube.kubectl(
            "-n", namespace, "patch", "gochatcluster/chat", "--type=merge", "-p", json.dumps(patch)
        )
        wait_reconciled(kube, namespace, after=generation["generation"])
        hpa = kube.get_json("hpa/chat-ws", "-n", namespace)
        assert hpa["spec"]["behavior"]["scaleDown"].get("selectPolicy") != "Disabled", hpa
        wait_scaled_down(kube, namespace, "chat-ws")
        timings["scale-down allowed, scaled down"] = time.monotonic() - started
        deployment = kube.get_json("deploy/chat-ws", "-n", namespace, "--show-managed-fields")
        assert deployment["spec"]["replicas"] == 1, deployment["spec"]
        assert "gochat-operator" not in replica_managers(deployment)

        kube.kubectl("-n", namespace, "delete", "gochatcluster/chat", "--wait=true")
        kube.helm("uninstall", "gochat-operator", "-n", system, "--wait")
    print({step: round(seconds) for step, seconds in timings.items()})


def replica_managers(deployment: dict[str, Any]) -> list[str]:
    """The field managers owning the Deployment's spec.replicas."""
    return [
        entry["manager"]
        for entry in deployment["metadata"]["managedFields"]
        if "f:replicas" in entry.get("fieldsV1", {}).get("f:spec", {})
    ]


def wait_reconciled(
    kube: access.ClusterAccess, namespace: str, *, after: int, timeout: float = 120
) -> None:
    """Until the operator's status reports a generation newer than `after`."""
    deadline = time.monotonic() + timeout
    while True:
        body = kube.get_json("gochatcluster/chat", "-n", namespace)
        if body.get("status", {}).get("observedGeneration", 0) > after:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"operator did not reconcile generation > {after}: {body}")
        time.sleep(2)
