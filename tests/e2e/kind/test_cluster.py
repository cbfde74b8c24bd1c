"""A real kind cluster: created, Ready, deleted, and the host as it was before.

Opt-in (``GOCHAT_E2E_KIND=1``, which ``make e2e-kind`` sets). It runs on either engine: the
user's Docker (kind's ``kindest/node``), or the private dockerd as root (Debian's
docker.io/containerd/runc; a cold build of the node image takes ~30 min on 2 cores); it skips,
saying why, where neither is possible.
"""

from __future__ import annotations

import contextlib
import time

import pytest
import yaml

from tests.e2e.kind import cluster, tier

# A pod writing into a PersistentVolumeClaim of the default StorageClass (local-path).
PVC_POD = """
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: data}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: 16Mi}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: writer}}
spec:
  restartPolicy: Never
  containers:
  - name: writer
    image: {image}
    imagePullPolicy: Never
    command: [sh, -c, "echo stored > /data/file && cat /data/file"]
    volumeMounts: [{{name: data, mountPath: /data}}]
  volumes:
  - name: data
    persistentVolumeClaim: {{claimName: data}}
"""

pytestmark = [
    pytest.mark.slow,
    tier.only_when_requested,
    pytest.mark.kind_cluster,
    pytest.mark.timeout(3600),
]


def _storage_helper_image(kind_cluster: cluster.Cluster) -> str:
    """The image local-path-provisioner runs its helper pods on: present on every node of
    either node image (``gochat.local/local-path-helper`` or kind's own), with a shell."""
    config = kind_cluster.kubectl(
        ["-n", "local-path-storage", "get", "configmap", "local-path-config", "-o", "yaml"]
    )
    helper_pod = yaml.safe_load(yaml.safe_load(config)["data"]["helperPod.yaml"])
    return str(helper_pod["spec"]["containers"][0]["image"])


def test_cluster_becomes_usable_and_leaves_the_host_as_it_was() -> None:
    outcome = cluster.Outcome()
    with contextlib.ExitStack() as stack:
        try:
            kind_cluster = stack.enter_context(
                cluster.session(outcome=outcome, wait_for_lock=cluster.LOCK_WAIT)
            )
        except cluster.Unavailable as error:
            pytest.skip(str(error))
        started = time.monotonic()
        kind_cluster.wait_usable()
        outcome.timings["usable after create"] = round(time.monotonic() - started, 1)
        nodes = kind_cluster.kubectl(["get", "nodes", "-o", "name"]).split()
        assert nodes == [f"node/{kind_cluster.name}-control-plane"]

        started = time.monotonic()
        pod = PVC_POD.format(image=_storage_helper_image(kind_cluster))
        kind_cluster.kubectl(["apply", "-f", "-"], stdin=pod)
        done = "--for=jsonpath={.status.phase}=Succeeded"
        kind_cluster.kubectl(["wait", done, "pod/writer", "--timeout=120s"])
        outcome.timings["PVC pod succeeded"] = round(time.monotonic() - started, 1)
        assert kind_cluster.kubectl(["logs", "pod/writer"]).strip() == "stored"
        assert "Bound" in kind_cluster.kubectl(["get", "pvc", "data"])
    print(outcome.timings)
    assert outcome.host_differences == []
