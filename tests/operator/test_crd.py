"""The CRD: generated from the models, committed up to date, self-documenting."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

from gochat_operator import crdgen
from gochat_operator.specs import crd

ROOT = pathlib.Path(__file__).resolve().parents[2]


def walk_properties(schema: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, prop in schema.get("properties", {}).items():
        yield f"{path}.{name}", prop
        yield from walk_properties(prop, f"{path}.{name}")
        if "items" in prop:
            yield from walk_properties(prop["items"], f"{path}.{name}[]")
        if isinstance(prop.get("additionalProperties"), dict):
            yield from walk_properties(prop["additionalProperties"], f"{path}.{name}{{}}")


def root_schema() -> dict[str, Any]:
    return crd.render_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_committed_crd_yaml_matches_the_models() -> None:
    committed = (ROOT / crdgen.CRD_PATH).read_text()
    assert committed == crdgen.crd_yaml(), "stale CRD: run `gochat-operator crd > crds/...`"


def test_every_field_has_a_description_for_kubectl_explain() -> None:
    # metadata is the one exception: the API server forbids anything but its type there.
    missing = [
        path
        for path, prop in walk_properties(root_schema(), "")
        if not prop.get("description") and path != ".metadata"
    ]
    assert missing == []


def test_cross_field_rules_are_cel_validations() -> None:
    spec = root_schema()["properties"]["spec"]["properties"]
    image_rules = [r["rule"] for r in spec["image"]["x-kubernetes-validations"]]
    assert "!(has(self.tag) && has(self.digest))" in image_rules
    autoscaling = spec["components"]["properties"]["ws"]["properties"]["autoscaling"]
    assert "self.minReplicas <= self.maxReplicas" in [
        r["rule"] for r in autoscaling["x-kubernetes-validations"]
    ]
    keyspace = spec["cassandra"]["properties"]["keyspace"]
    assert keyspace["x-kubernetes-validations"][0]["rule"] == "self == oldSelf"


def test_nested_objects_default_to_their_defaulted_model() -> None:
    spec = root_schema()["properties"]["spec"]["properties"]
    assert spec["components"]["default"]["ws"]["autoscaling"]["maxReplicas"] == 10
    assert spec["components"]["properties"]["api"]["properties"]["replicas"]["default"] == 2


def test_status_subresource_and_printer_columns() -> None:
    version = crd.render_crd()["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == [
        "Ready",
        "Version",
        "Phase",
        "Age",
    ]
