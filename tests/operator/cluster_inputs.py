"""Builder inputs for the unit and golden tests, from the sample resources in `cases/`."""

from __future__ import annotations

import pathlib

import yaml

from gochat_operator.specs import inputs
from gochat_operator.specs.model import cluster

CASES = pathlib.Path(__file__).parent / "cases"


def load_case(name: str) -> dict:
    return yaml.safe_load((CASES / f"{name}.yaml").read_text())


def cluster_input(
    case: str,
    *,
    serving: inputs.Release | str | None = "desired",
    prometheus: bool = False,
    **spec_overrides: object,
) -> inputs.ClusterInput:
    """A ClusterInput for a case; `serving="desired"` means its migration already succeeded."""
    body = load_case(case)
    body["spec"].update(spec_overrides)
    spec = cluster.GoChatClusterSpec.model_validate(body["spec"])
    result = inputs.ClusterInput(
        name=body["metadata"]["name"],
        namespace="gochat",
        uid="00000000-0000-4000-8000-000000000001",
        spec=spec,
        serving=None,
        secret_digests={"prod-postgres": "d1", "prod-nats": "d2", "prod-signing-keys": "d3"},
        has_prometheus_operator=prometheus,
    )
    release = result.desired if serving == "desired" else serving
    assert not isinstance(release, str)
    return inputs.ClusterInput(**{**result.__dict__, "serving": release})
