"""Scenario 2, upgrade through the operator: a GoChatCluster serving traffic
(``chaos_client.py`` in a Job: a sender, two gateway clients) gets ``spec.version`` changed to a
second tag of the services image (the same build plus a marker, tests/e2e/kind/marked_image.py).
The new version's migration Job completes before any Deployment rolls; the gateway clients
connected during the rollout are drained and resume on new pods with no gap in their sequence
and no event missed or repeated; the cluster ends Ready on the new version with every pod on the
new image. A version whose migration fails leaves the cluster Degraded (MigrationFailed), every
Deployment on the old image, and the old version serving a new user's whole flow."""

from __future__ import annotations

import datetime
import json
import time

import pytest

from gochat.contract import images as image_names
from tests.e2e import user_flow
from tests.e2e.kind import access, backends, marked_image, platform, traffic
from tests.images import build as images

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

COUNT = 300
COMPONENTS = ("api", "auth", "ws", "indexer")


def _when(stamp: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_version_change_migrates_first_then_rolls_with_clients_resuming_without_loss(
    kube: access.ClusterAccess, gochat_images: dict[str, str]
) -> None:
    old = gochat_images[image_names.SERVICES]
    new = f"{old}-e2e.2"
    source = images.ensure_images()[images.SERVICES.name]  # built: the tree may change meanwhile
    _, archive = marked_image.ensure(source, tag=new, marker="2")
    kube.load(archive)
    timings: dict[str, float] = {}
    started = time.monotonic()
    with (
        backends.namespace(kube, "e2e-upgrade-system") as system,
        backends.namespace(kube, "e2e-upgrade") as namespace,
    ):
        platform.install_operator(kube, system, tag=gochat_images[image_names.OPERATOR])
        deployed = backends.deploy(kube, namespace)
        cluster = platform.gochat_cluster(version=old, deployed=deployed)
        for name in ("api", "ws"):
            cluster["spec"]["components"][name] = {"replicas": 2}
        kube.kubectl("apply", "-f", "-", stdin=json.dumps(cluster))
        ready = ("-n", namespace, "wait", "gochatcluster/chat", "--for=condition=Ready")
        kube.kubectl(*ready, "--timeout=300s")
        with platform.endpoints(kube, namespace, "chat") as endpoints:
            channel, users = traffic.channel_with_members(
                endpoints, platform.mail_reader(kube, namespace)
            )
        timings["old version serving"] = time.monotonic() - started
        traffic.start_client(
            kube,
            deployed=deployed,
            prefix="chat",
            image=f"{image_names.SERVICES}:{old}",
            channel=channel,
            users=users,
            count=COUNT,
        )
        upgrade_started = time.monotonic()
        patch = {"spec": {"version": new, "image": {"tag": new}}}
        kube.kubectl(
            "-n", namespace, "patch", "gochatcluster/chat", "--type=merge", "-p", json.dumps(patch)
        )
        deadline = time.monotonic() + 300
        while True:
            status = kube.get_json("-n", namespace, "gochatcluster/chat").get("status", {})
            if status.get("version") == new and status.get("phase") == "Ready":
                break
            assert time.monotonic() < deadline, status
            time.sleep(2)
        timings["upgraded, Ready"] = time.monotonic() - upgrade_started
        assert "SENT" not in traffic.logs(kube, namespace), "rollout ended after the traffic"

        jobs = kube.get_json("-n", namespace, "jobs", "-l", "app.kubernetes.io/component=migrate")
        migrated = {
            job["spec"]["template"]["spec"]["containers"][0]["image"]: job for job in jobs["items"]
        }
        new_job = migrated[f"{image_names.SERVICES}:{new}"]
        assert new_job["status"].get("succeeded") == 1, new_job["status"]
        migrated_at = _when(new_job["status"]["completionTime"])
        sets = kube.get_json("-n", namespace, "replicasets")["items"]
        rolled = [
            rs
            for rs in sets
            if rs["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f":{new}")
        ]
        assert sorted(rs["metadata"]["labels"]["app.kubernetes.io/component"] for rs in rolled) == (
            sorted(COMPONENTS)
        )
        early = [
            rs["metadata"]["name"]
            for rs in rolled
            if _when(rs["metadata"]["creationTimestamp"]) < migrated_at
        ]
        assert early == [], f"rolled before the migration completed at {migrated_at}"

        result = traffic.finish_and_check(kube, namespace, count=COUNT)
        images_running = {
            pod["spec"]["containers"][0]["image"]
            for pod in kube.get_json(
                "-n", namespace, "pods", "-l", "app.kubernetes.io/name=gochat"
            )["items"]
            if pod["metadata"]["labels"].get("app.kubernetes.io/component") in COMPONENTS
            and not pod["metadata"].get("deletionTimestamp")
        }
        assert images_running == {f"{image_names.SERVICES}:{new}"}
        kube.kubectl("-n", namespace, "delete", "gochatcluster/chat", "--wait=true")
        kube.helm("uninstall", "gochat-operator", "-n", system, "--wait")
    print(
        {step: round(seconds) for step, seconds in timings.items()},
        "resumes", [listener["resumes"] for listener in result["listeners"]],
    )  # fmt: skip


def test_a_failing_migration_keeps_the_old_version_serving(
    kube: access.ClusterAccess, gochat_images: dict[str, str]
) -> None:
    old = gochat_images[image_names.SERVICES]
    broken = f"{old}-e2e.broken"
    source = images.ensure_images()[images.SERVICES.name]
    _, archive = marked_image.ensure(source, tag=broken, marker="broken", entrypoint=["/bin/false"])
    kube.load(archive)
    with (
        backends.namespace(kube, "e2e-badmigration-system") as system,
        backends.namespace(kube, "e2e-badmigration") as namespace,
    ):
        platform.install_operator(kube, system, tag=gochat_images[image_names.OPERATOR])
        deployed = backends.deploy(kube, namespace)
        cluster = platform.gochat_cluster(version=old, deployed=deployed)
        cluster["spec"]["migrations"] = {"backoffLimit": 0}
        kube.kubectl("apply", "-f", "-", stdin=json.dumps(cluster))
        kube.kubectl(
            "-n", namespace, "wait", "gochatcluster/chat", "--for=condition=Ready", "--timeout=300s"
        )
        patch = {"spec": {"version": broken, "image": {"tag": broken}}}
        kube.kubectl(
            "-n", namespace, "patch", "gochatcluster/chat", "--type=merge", "-p", json.dumps(patch)
        )
        kube.kubectl(
            "-n", namespace, "wait", "gochatcluster/chat", "--for=condition=Degraded",
            "--timeout=300s",
        )  # fmt: skip
        status = kube.get_json("-n", namespace, "gochatcluster/chat")["status"]
        assert status["phase"] == "Degraded" and status["version"] == old, status
        reasons = {c["type"]: c["reason"] for c in status["conditions"]}
        assert reasons["MigrationsComplete"] == "MigrationFailed", status
        deployments = kube.get_json("-n", namespace, "deployments")["items"]
        assert {d["spec"]["template"]["spec"]["containers"][0]["image"] for d in deployments} == {
            f"{image_names.SERVICES}:{old}"
        }
        with platform.endpoints(kube, namespace, "chat") as endpoints:
            user_flow.walk(endpoints, platform.mail_reader(kube, namespace), names=("eve", "fa"))
        kube.kubectl("-n", namespace, "delete", "gochatcluster/chat", "--wait=true")
        kube.helm("uninstall", "gochat-operator", "-n", system, "--wait")
