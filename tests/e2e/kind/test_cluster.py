"""A real kind cluster: created, Ready, deleted, and the host as it was before.

Opt-in (``GOCHAT_E2E_KIND=1``, which ``make e2e-kind`` sets): it needs root, Debian's
docker.io/containerd/runc, and a cold build of the node image takes ~30 min on 2 cores.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.e2e.kind import cache, cluster, node_image, tier

# A pod writing into a PersistentVolumeClaim of the default StorageClass (local-path).
PVC_POD = f"""
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
    image: {node_image.HELPER_IMAGE}:{cache.PINNED.debian}
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
    pytest.mark.skipif(os.geteuid() != 0, reason="the kind harness needs root (dockerd, netns)"),
    pytest.mark.timeout(3600),
]


def test_cluster_becomes_usable_and_leaves_the_host_as_it_was() -> None:
    outcome = cluster.Outcome()
    with cluster.session(outcome=outcome, wait_for_lock=cluster.LOCK_WAIT) as kind_cluster:
        started = time.monotonic()
        kind_cluster.wait_usable()
        outcome.timings["usable after create"] = round(time.monotonic() - started, 1)
        nodes = kind_cluster.kubectl(["get", "nodes", "-o", "name"]).split()
        assert nodes == ["node/gochat-control-plane"]

        started = time.monotonic()
        kind_cluster.kubectl(["apply", "-f", "-"], stdin=PVC_POD)
        done = "--for=jsonpath={.status.phase}=Succeeded"
        kind_cluster.kubectl(["wait", done, "pod/writer", "--timeout=120s"])
        outcome.timings["PVC pod succeeded"] = round(time.monotonic() - started, 1)
        assert kind_cluster.kubectl(["logs", "pod/writer"]).strip() == "stored"
        assert "Bound" in kind_cluster.kubectl(["get", "pvc", "data"])
    print(outcome.timings)
    assert outcome.host_differences == []
