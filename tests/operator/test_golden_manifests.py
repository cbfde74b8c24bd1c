"""The builders' output for sample clusters, compared with readable golden YAML files.

Regenerate after an intended change with `GOCHAT_UPDATE_GOLDEN=1 pytest tests/operator`,
then review the diff like any other code change.
"""

from __future__ import annotations

import os
import pathlib

import pytest
import yaml

from gochat_operator.specs import bundle, inputs
from tests.operator import cluster_inputs

GOLDEN = pathlib.Path(__file__).parent / "golden"
UPDATE = os.environ.get("GOCHAT_UPDATE_GOLDEN") == "1"

CASES = {
    # A fresh install: config, Services and the first migration Job; no Deployments yet.
    "minimal-first-install": lambda: cluster_inputs.cluster_input("minimal", serving=None),
    # The same cluster once migrated: Deployments at the desired version.
    "minimal-ready": lambda: cluster_inputs.cluster_input("minimal"),
    # Every feature on, with the Prometheus Operator present.
    "full-ready": lambda: cluster_inputs.cluster_input("full", prometheus=True),
    # An upgrade in flight: Deployments stay on the old release while the new one migrates.
    "full-upgrading": lambda: cluster_inputs.cluster_input(
        "full", serving=inputs.Release("2.2.0", "registry.example.com/gochat:2.2.0")
    ),
}


class ReadableDumper(yaml.SafeDumper):
    """Multi-line strings (rendered config files) as literal blocks, as a human writes them."""


def represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


ReadableDumper.add_representer(str, represent_str)


def render_documents(cluster: inputs.ClusterInput) -> str:
    children = bundle.render_children(cluster)
    documents = [*children.all(), bundle.render_migration_job(cluster)]
    parts = [
        f"# {doc['kind']} {doc['metadata']['name']}\n"
        + yaml.dump(doc, Dumper=ReadableDumper, sort_keys=False, width=100)
        for doc in documents
    ]
    pruned = "".join(f"#   {ref.kind} {ref.name}\n" for ref in children.prune) or "#   (nothing)\n"
    header = "# Pruned when present:\n" + pruned
    return header + "---\n" + "---\n".join(parts)


@pytest.mark.parametrize("case", sorted(CASES))
def test_manifests_match_golden_file(case: str) -> None:
    rendered = render_documents(CASES[case]())
    path = GOLDEN / f"{case}.yaml"
    if UPDATE:
        path.write_text(rendered)
    assert path.exists(), f"no golden file {path.name}: run with GOCHAT_UPDATE_GOLDEN=1"
    assert rendered == path.read_text(), f"{path.name} differs: review, then GOCHAT_UPDATE_GOLDEN=1"
