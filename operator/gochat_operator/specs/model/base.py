"""Base of the GoChatCluster spec models: the one source of truth.

The CRD's OpenAPI schema is generated from these classes (see `crd_schema`), and the
operator validates every object it reads through them, so a field, its description, its
default and its bounds are written exactly once. Free-form Kubernetes structures
(resources, affinity, tolerations...) are kept as plain dicts: the API server already
validates them where they land, in the Deployment.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pydantic
from pydantic import Field
from pydantic.alias_generators import to_camel

GROUP = "gochat.dev"
VERSION = "v1alpha1"
KIND = "GoChatCluster"
PLURAL = "gochatclusters"
SINGULAR = "gochatcluster"
SHORT_NAMES = ["gochat", "gcc"]

# A free-form Kubernetes object (e.g. Affinity): preserved as is, validated downstream.
KubeObject = dict[str, Any]


class Rule(pydantic.BaseModel):
    """One CEL `x-kubernetes-validations` entry."""

    rule: str
    message: str


class SpecModel(pydantic.BaseModel):
    """Base: camelCase on the wire, unknown fields ignored (the API server prunes them anyway)."""

    model_config = pydantic.ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )
    cel_rules: ClassVar[tuple[Rule, ...]] = ()


class SecretKeyRef(SpecModel):
    """A key of a Secret in the cluster's namespace."""

    name: str = Field(min_length=1, max_length=253, description="Name of the Secret.")
    key: str = Field(min_length=1, max_length=253, description="Key inside the Secret.")


class SecretRef(SpecModel):
    """A whole Secret in the cluster's namespace."""

    name: str = Field(min_length=1, max_length=253, description="Name of the Secret.")
