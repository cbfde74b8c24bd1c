"""KWOK's configuration and the fake nodes it keeps alive.

KWOK plays the kubelet: it moves pods through the Stage objects in ``stages/`` (kwok's default
"fast" stages plus ``pod-fail.yaml``, GoChat's own). Without stages KWOK does nothing at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

STAGES_DIR = Path(__file__).with_name("stages")
FAIL_LABEL = "kwok.gochat.dev/fail"
NODE_NAME_PREFIX = "kwok-node-"
# Marks nodes played by this harness's KWOK and stages, so a cluster reached through
# GOCHAT_TEST_KUBECONFIG (e.g. one started with `python -m tests.k8s.up`) is recognised as such.
HARNESS_NODE_ANNOTATION = "kwok.gochat.dev/harness"

# Fields are all set on purpose: KWOK applies no defaults to a configuration read from a file.
KWOK_OPTIONS: dict[str, Any] = {
    "manageAllNodes": True,
    "nodeLeaseDurationSeconds": 40,
    "nodeLeaseParallelism": 4,
    "podPlayStageParallelism": 4,
    "nodePlayStageParallelism": 4,
    "podsOnNodeSyncParallelism": 1,
    "enablePodsOnNodeSyncListPager": True,
    "enablePodsOnNodeSyncStreamWatch": False,
    "enableDebuggingHandlers": False,
    "enableProfilingHandler": False,
    "enableContentionProfiling": False,
    "cidr": "10.244.0.0/16",
}
# Enough room on each node for ~1500 pods with realistic requests.
NODE_RESOURCES = {"cpu": "1000", "memory": "4Ti", "pods": "1500", "ephemeral-storage": "1Ti"}


def write_config(path: Path) -> Path:
    """One multi-document file: the KwokConfiguration followed by every Stage."""
    documents: list[dict[str, Any]] = [
        {
            "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
            "kind": "KwokConfiguration",
            "options": KWOK_OPTIONS,
        }
    ]
    for stage_file in sorted(STAGES_DIR.glob("*.yaml")):
        documents.append(yaml.safe_load(stage_file.read_text()))
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return path


def node_name(index: int) -> str:
    return f"{NODE_NAME_PREFIX}{index}"


def node_manifest(index: int) -> dict[str, Any]:
    """A Node as KWOK's documentation registers one; status is kept on create for Nodes."""
    name = node_name(index)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {
                "kwok.x-k8s.io/node": "fake",
                "node.alpha.kubernetes.io/ttl": "0",
                HARNESS_NODE_ANNOTATION: "true",
            },
            "labels": {
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/role": "agent",
                "node-role.kubernetes.io/agent": "",
                "type": "kwok",
            },
        },
        # No kwok taint: GoChat's pods carry no toleration and must still be scheduled here.
        "spec": {},
        "status": {
            "allocatable": NODE_RESOURCES,
            "capacity": NODE_RESOURCES,
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": "fake",
                "kubeProxyVersion": "fake",
            },
            "phase": "Running",
        },
    }


def nodes_manifest(count: int) -> str:
    return yaml.safe_dump_all([node_manifest(index) for index in range(count)], sort_keys=False)
