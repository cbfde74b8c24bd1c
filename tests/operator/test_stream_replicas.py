"""The event stream's replicas follow the NATS cluster the spec describes."""

from __future__ import annotations

import pathlib

import pytest

from gochat.core import config
from gochat_operator.specs import crd
from gochat_operator.specs.model import backends
from tests.operator import cluster_inputs, test_contract_configs


@pytest.mark.parametrize(
    ("servers", "asked", "replicas"),
    [(1, None, 1), (2, None, 1), (3, None, 3), (5, None, 3), (5, 5, 5), (3, 1, 1)],
)
def test_replicas_default_to_three_on_a_cluster_of_three_and_follow_the_spec(
    servers: int, asked: int | None, replicas: int
) -> None:
    nats = backends.Nats(url="nats://nats:4222", servers=servers, stream_replicas=asked)
    assert nats.event_stream_replicas == replicas


def test_api_ws_and_indexer_load_the_same_replicas_from_what_the_operator_renders(
    tmp_path: pathlib.Path,
) -> None:
    nats = {**cluster_inputs.load_case("full")["spec"]["nats"], "streamReplicas": 5}
    cluster_input = cluster_inputs.cluster_input("full", nats={**nats, "servers": 5})
    for component in ("api", "ws", "indexer"):
        loaded = test_contract_configs.loaded_config(cluster_input, component, tmp_path)
        assert isinstance(loaded, config.NatsSettings), component
        assert loaded.nats_stream_replicas == 5, component


def test_more_replicas_than_servers_is_refused_by_the_api_server() -> None:
    schema = crd.render_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    nats = schema["properties"]["spec"]["properties"]["nats"]
    assert {
        "rule": "!has(self.streamReplicas) || self.streamReplicas <= self.servers",
        "message": "nats.streamReplicas cannot exceed nats.servers",
    } in nats["x-kubernetes-validations"]
    assert nats["properties"]["streamReplicas"]["maximum"] == 5
