"""Scenario 5, the helm path: `helm install` of charts/gochat against the in-cluster PostgreSQL
and NATS (deploy/backends/, in the release's namespace), `helm test` passes, a new user's whole
flow (tests/e2e/user_flow.py) works through the Services, and `helm upgrade` with a changed
value rolls every Deployment's pods (the `gochat.dev/config-hash` annotation)."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

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


def install_and_test(
    kube: access.ClusterAccess,
    *,
    namespace: str,
    values: list[str],
    wait: str,
    timings: dict[str, float],
    started: float,
) -> str:
    """`helm install` of charts/gochat as RELEASE with `values` (``--set`` arguments), waiting
    up to `wait` (a helm duration) for its resources, then `helm test` with the test pods'
    logs, which must pass. Records "helm install --wait" and "helm test" in `timings` (seconds
    since `started`); returns helm test's output for the caller's own assertions."""
    kube.helm(
        "install", RELEASE, str(CHART), "-n", namespace, *values, "--wait", "--timeout", wait,
    )  # fmt: skip
    timings["helm install --wait"] = time.monotonic() - started
    tested = kube.run(
        [str(kube.helm_path), "test", RELEASE, "-n", namespace, "--logs", "--timeout", "180s"],
        check=False,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    timings["helm test"] = time.monotonic() - started
    return tested.stdout


def _pod_templates(kube: access.ClusterAccess, namespace: str) -> dict[str, dict[str, str]]:
    deployments = kube.get_json("deployments", "-n", namespace)["items"]
    return {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"].get("annotations", {})
        for d in deployments
    }


# Stands in for helm (no cluster): records its arguments, and `helm test` prints a test pod's
# log line and exits with the code asked for.
FAKE_HELM = textwrap.dedent("""\
    import sys
    from pathlib import Path
    with Path(__file__).with_name("calls").open("a") as calls:
        calls.write(" ".join(sys.argv[1:]) + "\\n")
    if sys.argv[1] == "test":
        print("posted and read back")
        print("helm test says {code}", file=sys.stderr)
        sys.exit({code})
""")


def _fake_helm(tmp_path: Path, *, test_exit: int) -> access.ClusterAccess:
    script = tmp_path / "helm.py"
    script.write_text(FAKE_HELM.replace("{code}", str(test_exit)))
    return access.ClusterAccess(
        kubeconfig=tmp_path / "kubeconfig",
        kubectl_path=tmp_path / "kubectl",
        helm_path=script,
        wrap=lambda command: [sys.executable, *command],
    )


def test_install_and_test_installs_waits_tests_and_hands_back_the_test_output(
    tmp_path: Path,
) -> None:
    """No cluster needed (a stand-in helm)."""
    kube, timings = _fake_helm(tmp_path, test_exit=0), {"backends ready": 1.0}
    output = install_and_test(
        kube, namespace="ns", values=["--set", "a=b"], wait="420s", timings=timings,
        started=time.monotonic(),
    )  # fmt: skip
    assert output == "posted and read back\n"
    assert (tmp_path / "calls").read_text().splitlines() == [
        f"install {RELEASE} {CHART} -n ns --set a=b --wait --timeout 420s",
        f"test {RELEASE} -n ns --logs --timeout 180s",
    ]
    assert list(timings) == ["backends ready", "helm install --wait", "helm test"]
    assert 0 <= timings["helm install --wait"] <= timings["helm test"]


def test_install_and_test_fails_with_helm_tests_words_when_a_test_pod_fails(
    tmp_path: Path,
) -> None:
    """No cluster needed (a stand-in helm)."""
    kube, timings = _fake_helm(tmp_path, test_exit=1), {}
    with pytest.raises(AssertionError, match="helm test says 1"):
        install_and_test(
            kube, namespace="ns", values=[], wait="300s", timings=timings,
            started=time.monotonic(),
        )  # fmt: skip
    assert "helm test" not in timings


def test_helm_install_test_user_flow_and_upgrade_rolls_the_pods(
    kube: access.ClusterAccess, gochat_images: dict[str, str]
) -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()
    with backends.namespace(kube, "e2e-helm") as namespace:
        deployed = backends.deploy(kube, namespace)
        values = _values(deployed, gochat_images[image_names.SERVICES])
        timings["backends ready"] = time.monotonic() - started
        tested = install_and_test(
            kube, namespace=namespace, values=values, wait="300s", timings=timings,
            started=started,
        )  # fmt: skip
        assert "registered" in tested and "posted and read back" in tested, tested

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
