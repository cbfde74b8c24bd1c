"""The values.schema.json of charts/gochat-operator (`gochat-operator chart-schema`).

Where a value has the shape of a GoChatCluster field (image repository, digest and pull
policy; pod placement, resources, pod labels and annotations) its schema is taken from the
CRD the operator's models generate, so the chart and the CRD accept the same things. Every
object refuses unknown keys: a misspelled value fails `helm install` naming it.
"""

from __future__ import annotations

import json
from typing import Any

from gochat_operator.specs import crd

Schema = dict[str, Any]
SCHEMA_PATH = "charts/gochat-operator/values.schema.json"
SECONDS = {"type": "integer", "minimum": 1, "maximum": 86400}
PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
NAMESPACE = {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63}
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}


def json_schema(structural: Any) -> Any:
    """A CRD schema fragment as plain JSON Schema: Kubernetes' extensions and defaults dropped
    (values.yaml holds the chart's defaults)."""
    if isinstance(structural, dict):
        return {
            key: json_schema(value)
            for key, value in structural.items()
            if not key.startswith("x-kubernetes-") and key != "default"
        }
    if isinstance(structural, list):
        return [json_schema(item) for item in structural]
    return structural


def closed(properties: Schema, *, description: str, required: tuple[str, ...] = ()) -> Schema:
    result: Schema = {
        "type": "object",
        "description": description,
        "additionalProperties": False,
        "properties": properties,
    }
    if required:
        result["required"] = list(required)
    return result


def cluster_fields() -> tuple[Schema, Schema]:
    """(image, component) properties of the GoChatCluster spec schema."""
    spec = crd.render_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    properties = spec["spec"]["properties"]
    image: Schema = properties["image"]["properties"]
    component: Schema = properties["components"]["properties"]["api"]["properties"]
    return image, component


def values_schema() -> Schema:
    image, component = cluster_fields()
    placement = component["scheduling"]["properties"]
    empty = {"type": "string", "maxLength": 0}
    properties: Schema = {
        "global": {"type": "object", "description": "Values a parent chart shares."},
        "image": closed(
            {
                "repository": json_schema(image["repository"]),
                "tag": {"type": "string", "description": "Tag; empty: the chart's appVersion."},
                "digest": {"anyOf": [empty, json_schema(image["digest"])]},
                "pullPolicy": json_schema(image["pullPolicy"]),
            },
            description="The image holding the gochat-operator command.",
            required=("repository",),
        ),
        "imagePullSecrets": json_schema(image["pullSecrets"]),
        "watch": closed(
            {
                "allNamespaces": {"type": "boolean"},
                "namespaces": {"type": "array", "uniqueItems": True, "items": NAMESPACE},
            },
            description="Which namespaces' GoChatClusters the operator reconciles.",
        ),
        "crd": closed(
            {"install": {"type": "boolean"}, "keep": {"type": "boolean"}},
            description="The GoChatCluster CRD: installed with the chart, kept on uninstall.",
        ),
        "rbac": closed({"create": {"type": "boolean"}}, description="ClusterRole and binding."),
        "serviceAccount": closed(
            {"create": {"type": "boolean"}, "name": {"type": "string"}, "annotations": STRING_MAP},
            description="The ServiceAccount the operator runs as.",
        ),
        "metrics": closed(
            {"port": PORT, "service": {"type": "boolean"}},
            description="The operator's Prometheus /metrics.",
        ),
        "monitoring": closed(
            {
                "serviceMonitor": {"type": "boolean"},
                "prometheusRule": {"type": "boolean"},
                "labels": STRING_MAP,
            },
            description="ServiceMonitor and PrometheusRule (where monitoring.coreos.com/v1 "
            "exists), with extra labels.",
        ),
        "health": closed({"port": PORT}, description="kopf's liveness endpoint."),
        "settings": closed(
            {
                name: SECONDS
                for name in (
                    "resyncSeconds",
                    "migrationBackoffSeconds",
                    "problemBackoffSeconds",
                    "problemBackoffCapSeconds",
                    "secretCacheSeconds",
                )
            },
            description="Timings of the operator (GOCHAT_OPERATOR_* variables).",
        ),
        "resources": json_schema(component["resources"]),
        "nodeSelector": json_schema(placement["nodeSelector"]),
        "tolerations": json_schema(placement["tolerations"]),
        "affinity": json_schema(placement["affinity"]),
        "podLabels": json_schema(component["podLabels"]),
        "podAnnotations": json_schema(component["podAnnotations"]),
    }
    return {
        "$schema": "https://json-schema.org/draft-07/schema#",
        "title": "gochat-operator values (generated by `gochat-operator chart-schema`)",
        **closed(properties, description="Values of the gochat-operator chart."),
    }


def values_schema_json() -> str:
    return json.dumps(values_schema(), indent=2) + "\n"
