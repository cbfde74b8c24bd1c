"""Build the GoChatCluster CustomResourceDefinition from the pydantic models.

Kubernetes wants a *structural* schema: every level typed, no `$ref`, no `anyOf` for
optionals. Pydantic's own JSON schema has all three, so this walks the models' fields
directly: the mapping is small because the models only use a few shapes (scalars,
Literal enums, optionals, lists, string maps, free-form Kubernetes objects, nested models).
"""

from __future__ import annotations

import types
import typing
from typing import Any

import annotated_types
import pydantic
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from gochat_operator.specs.model import base, cluster, status

Schema = dict[str, Any]

# Longest job name is `<cluster>-migrate-<16-char slug>-<5-char hash>`: 63 with 30 here.
MAX_CLUSTER_NAME = 30


def model_schema(model: type[base.SpecModel]) -> Schema:
    """The structural schema of one model: properties, required, CEL rules."""
    properties: Schema = {}
    required: list[str] = []
    for name, field in model.model_fields.items():
        alias = field.alias or name
        properties[alias] = field_schema(field)
        if field.is_required():
            required.append(alias)
    schema: Schema = {"type": "object", "properties": properties}
    if model.__doc__:
        schema["description"] = model.__doc__.strip().splitlines()[0]
    if required:
        schema["required"] = required
    if model.cel_rules:
        schema["x-kubernetes-validations"] = [rule.model_dump() for rule in model.cel_rules]
    return schema


def field_schema(field: FieldInfo) -> Schema:
    """A property: the type's schema plus description, default, bounds and extras."""
    schema = type_schema(field.annotation)
    if field.description:
        schema["description"] = field.description
    default = field.get_default(call_default_factory=True)
    if isinstance(default, pydantic.BaseModel):
        # The whole defaulted object: the API server checks CEL rules against a default as
        # written, before filling in nested defaults, so `{}` would fail `min <= max`.
        schema["default"] = default.model_dump(mode="json", by_alias=True, exclude_none=True)
    elif default not in (None, PydanticUndefined, [], {}):
        schema["default"] = default
    schema.update(constraint_schema(field.metadata, schema["type"]))
    if isinstance(field.json_schema_extra, dict):
        schema.update(field.json_schema_extra)
    return schema


def type_schema(annotation: Any) -> Schema:
    """The schema of a type annotation (see the module docstring for the shapes)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [arg for arg in args if arg is not type(None)]
        return type_schema(inner)
    if origin is typing.Literal:
        return {"type": "string", "enum": list(args)}
    if origin is list:
        return {"type": "array", "items": type_schema(args[0])}
    if origin is dict:
        if args[1] is str:
            return {"type": "object", "additionalProperties": {"type": "string"}}
        if isinstance(args[1], type) and issubclass(args[1], base.SpecModel):
            return {"type": "object", "additionalProperties": model_schema(args[1])}
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    if isinstance(annotation, type) and issubclass(annotation, base.SpecModel):
        return model_schema(annotation)
    scalar = {str: "string", int: "integer", bool: "boolean"}.get(annotation)
    if scalar is None:
        raise TypeError(f"no CRD schema for {annotation!r}")
    return {"type": scalar}


def constraint_schema(metadata: list[Any], kind: str) -> Schema:
    """Pydantic constraints as OpenAPI keywords (lengths apply to strings and arrays)."""
    schema: Schema = {}
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            schema["minimum"] = item.ge
        elif isinstance(item, annotated_types.Le):
            schema["maximum"] = item.le
        elif isinstance(item, annotated_types.MinLen):
            schema["minItems" if kind == "array" else "minLength"] = item.min_length
        elif isinstance(item, annotated_types.MaxLen):
            schema["maxItems" if kind == "array" else "maxLength"] = item.max_length
        elif getattr(item, "pattern", None):
            schema["pattern"] = item.pattern
    return schema


def without_defaults(schema: Any) -> Any:
    """Status is written by the operator alone: defaults there would only make the API
    server's copy differ from what the operator computed."""
    if isinstance(schema, dict):
        return {k: without_defaults(v) for k, v in schema.items() if k != "default"}
    if isinstance(schema, list):
        return [without_defaults(v) for v in schema]
    return schema


def printer_columns() -> list[Schema]:
    return [
        {
            "name": "Ready",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        },
        {"name": "Version", "type": "string", "jsonPath": ".status.version"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]


def render_crd() -> Schema:
    """The whole CustomResourceDefinition manifest, as committed in crds/."""
    root: Schema = {
        "type": "object",
        "description": "A GoChat installation: services, config, migrations and routing.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "API version of this object."},
            "kind": {"type": "string", "description": "GoChatCluster."},
            "metadata": {"type": "object"},  # the API server forbids more here
            "spec": model_schema(cluster.GoChatClusterSpec),
            "status": without_defaults(model_schema(status.GoChatClusterStatus)),
        },
        "x-kubernetes-validations": [
            {
                "rule": f"self.metadata.name.size() <= {MAX_CLUSTER_NAME}",
                "message": f"a GoChatCluster name is at most {MAX_CLUSTER_NAME} characters",
            }
        ],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{base.PLURAL}.{base.GROUP}"},
        "spec": {
            "group": base.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": base.KIND,
                "plural": base.PLURAL,
                "singular": base.SINGULAR,
                "shortNames": list(base.SHORT_NAMES),
                "listKind": f"{base.KIND}List",
            },
            "versions": [
                {
                    "name": base.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": printer_columns(),
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }
