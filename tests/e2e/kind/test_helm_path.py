"""Scenario 5, the helm path: `helm install` of charts/gochat against the in-cluster PostgreSQL
and NATS (deploy/backends/, in the release's namespace), `helm test` passes, a new user's whole
flow (tests/e2e/user_flow.py) works through the Services, and `helm upgrade` with a changed
value rolls every Deployment's pods (the `gochat.dev/config-hash` annotation)."""

from __future__ import annotations

import time

import pytest

from gochat.contract import images as image_names
from tests.e2e import user_flow
from tests.e2e.kind import access, backends, platform

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

CHART = backends.backend_images.DEPLOY.parents[1] / "charts" / "gochat"
RELEASE = "gochat"  # a release name holding "gochat" is the full name: Services gochat-api, ...
COMPONENTS = ("api", "auth", "ws", "indexer")
CONFIG_HASH = "gochat.dev/config-hash"  # the pod template's checksum of the rendered config


def _values(deployed: backends.Backends, tag: str) -> list[str]:
    sets = [
        f"image.tag={tag}",
        f"postgres.dsnSecret.name={deployed.dsn_secret}",
        f"nats.url={deployed.nats_url}",
        *(f"components.{name}.replicas=1" for name in COMPONENTS),
    ]
    return [arg for value in sets for arg in ("--set", value)]


def _pod_templates(kube: access.ClusterAccess, namespace: str) -> dict[str, dict[str, str]]:
    deployments = kube.get_json("deployments", "-n", namespace)["items"]
    return {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"].get("annotations", {})
        for d in deployments
    }


def test_helm_install_test_user_flow_and_upgrade_rolls_the_pods(
    kube: access.ClusterAccess, gochat_images: dict[str, str]
) -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()
    with backends.namespace(kube, "e2e-helm") as namespace:
        deployed = backends.deploy(kube, namespace)
        values = _values(deployed, gochat_images[image_names.SERVICES])
        timings["backends ready"] = time.monotonic() - started
        kube.helm(
            "install", RELEASE, str(CHART), "-n", namespace, *values,
            "--wait", "--timeout", "300s",
        )  # fmt: skip
        timings["helm install --wait"] = time.monotonic() - started
        tested = kube.run(
            [str(kube.helm_path), "test", RELEASE, "-n", namespace, "--logs", "--timeout", "180s"],
            check=False,
        )
        assert tested.returncode == 0, tested.stdout + tested.stderr
        assert "registered" in tested.stdout and "posted and read back" in tested.stdout
        timings["helm test"] = time.monotonic() - started

        with platform.endpoints(kube, namespace, RELEASE) as endpoints:
            user_flow.walk(endpoints, platform.mail_reader(kube, namespace), names=("cy", "di"))
        timings["user flow"] = time.monotonic() - started

        before = _pod_templates(kube, namespace)
        old_pods = set(platform.component_pods(kube, namespace))
        kube.helm(
            "upgrade", RELEASE, str(CHART), "-n", namespace, *values,
            "--set", "logLevel=debug", "--wait", "--timeout", "300s",
        )  # fmt: skip
        after = _pod_templates(kube, namespace)
        assert sorted(after) == sorted(f"{RELEASE}-{name}" for name in COMPONENTS)
        for deployment, annotations in after.items():
            kube.kubectl(
                "-n", namespace, "rollout", "status", f"deploy/{deployment}", "--timeout=180s"
            )
            changed = {k for k, v in annotations.items() if before[deployment].get(k) != v}
            assert CONFIG_HASH in changed, (deployment, annotations)
        running = {
            name
            for name, component in platform.component_pods(kube, namespace).items()
            if component in COMPONENTS
        }
        assert running and not running & old_pods, (running, old_pods)
        timings["helm upgrade rolled"] = time.monotonic() - started
        kube.helm("uninstall", RELEASE, "-n", namespace, "--wait")
    print({step: round(seconds) for step, seconds in timings.items()})
