"""The rendered service configs: one ConfigMap per component, `<component>_config.yaml`."""

from __future__ import annotations

import hashlib
from typing import Any

import yaml

from gochat.contract import services as contract
from gochat_operator.specs import auth_backends, inputs, meta

CONFIG_DIR = "/etc/gochat/config"


def config_file(component: str) -> str:
    return contract.config_file(component)


def config_path(component: str) -> str:
    return f"{CONFIG_DIR}/{config_file(component)}"


def render_config(cluster: inputs.ClusterInput, component: str) -> dict[str, Any]:
    """The flat config keys of one service, validated with the service's own config model
    (`gochat.contract`): a key or value the service would refuse raises `ConfigError` here.
    Only the keys the operator sets are rendered; the rest keep the service's defaults."""
    spec = cluster.spec
    config: dict[str, Any] = {
        "host": "0.0.0.0",
        "port": meta.PORTS[component],
        "log_level": spec.log_level,
    }
    if spec.otlp_endpoint:
        config["otlp_endpoint"] = spec.otlp_endpoint
    for backend in auth_backends.for_component(cluster, component):
        config.update(backend.config(component))
    validated = contract.validate_config(component, config)
    rendered = validated.model_dump(mode="json", include=set(config))
    return dict(sorted(rendered.items()))


def config_name(cluster: inputs.ClusterInput, component: str) -> str:
    return meta.child_name(cluster, f"{component}-config")


def render_configmap(cluster: inputs.ClusterInput, component: str) -> meta.Manifest:
    body = yaml.safe_dump(render_config(cluster, component), sort_keys=True)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta.object_meta(
            cluster, name=config_name(cluster, component), component=component
        ),
        "data": {config_file(component): body},
    }


def config_hash(cluster: inputs.ClusterInput, component: str) -> str:
    """Digest of the rendered config and the referenced Secrets' data: a change rolls pods."""
    digest = hashlib.sha256()
    digest.update(yaml.safe_dump(render_config(cluster, component), sort_keys=True).encode())
    for need in auth_backends.secret_needs(cluster):
        if component in need.components:
            digest.update(need.name.encode())
            digest.update(cluster.secret_digests.get(need.name, "absent").encode())
    return digest.hexdigest()[:16]
