"""What each service's configuration asks of the event stream (no server needed)."""

from __future__ import annotations

import pytest

from gochat.adapters.nats import stream
from gochat.core import config

SERVICES_THAT_ENSURE_THE_STREAM = [config.ApiConfig, config.WsConfig, config.IndexerConfig]


@pytest.mark.parametrize("model", SERVICES_THAT_ENSURE_THE_STREAM, ids=lambda m: m.__name__)
def test_every_service_maps_its_replicas_and_window_to_the_same_stream_config(
    model: type[config.NatsSettings],
) -> None:
    settings = config.load_config(
        model,
        service="test",
        env={"GOCHAT_NATS_STREAM_REPLICAS": "3", "GOCHAT_NATS_DUPLICATE_WINDOW_SECONDS": "120"},
        path=None,
    )
    wanted = stream.desired_config("S", limits=stream.limits_for(settings), subjects=["s.>"])
    assert (wanted.num_replicas, wanted.duplicate_window) == (3, 120)
    # Unset, as on a single dev server: one replica.
    default = stream.desired_config("S", limits=stream.limits_for(model()), subjects=["s.>"])
    assert default.num_replicas == 1


@pytest.mark.parametrize("replicas", ["0", "6", "three"])
def test_an_impossible_replica_count_is_refused_naming_the_key(replicas: str) -> None:
    with pytest.raises(config.ConfigError, match="nats_stream_replicas"):
        config.load_config(
            config.ApiConfig, service="test", env={"GOCHAT_NATS_STREAM_REPLICAS": replicas}
        )
