"""Each service's config model, port and probe paths, as the services themselves define them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from gochat.core import config

COMPONENTS = ("api", "auth", "ws", "indexer")
MIGRATE = "migrate"  # the migration Job: a config model, no port

# The models the services validate with (`gochat <service>` loads exactly these).
CONFIG_MODELS: Mapping[str, type[BaseModel]] = config.CONFIG_MODELS

# A service's port is its config model's default, so a pod and `make dev` agree.
PORTS: Mapping[str, int] = {
    component: int(CONFIG_MODELS[component].model_fields["port"].default)
    for component in COMPONENTS
}

# Served by every service on its one port (core/http.py, and ws/server.py for the gateway).
LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
METRICS_PATH = "/metrics"
WS_PATH = "/ws"

CONFIG_ENV = f"{config.ENV_PREFIX}CONFIG"


def config_file(component: str) -> str:
    """The file name a service reads by default (`<component>_config.yaml`)."""
    return f"{component}_config.yaml"


def validate_config(component: str, values: Mapping[str, Any]) -> BaseModel:
    """Validate `values` with the component's own model; raise `config.ConfigError` naming
    the first refused key (unknown keys are refused: the models forbid extras)."""
    model = CONFIG_MODELS[component]
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "<root>"
        raise config.ConfigError(key, first["msg"]) from None


def env_name(key: str) -> str:
    """The environment variable that sets config `key` (`GOCHAT_<KEY>`)."""
    return f"{config.ENV_PREFIX}{key.upper()}"


def env_names(component: str) -> frozenset[str]:
    """Every `GOCHAT_*` variable the component reads; others are ignored by the service."""
    return frozenset(
        {CONFIG_ENV, *(env_name(key) for key in CONFIG_MODELS[component].model_fields)}
    )
