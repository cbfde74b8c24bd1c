"""Generated files of charts/gochat: `python -m tests.charts.gochat_chart_files` rewrites them,
`test_gochat_chart.py` fails while any is stale.

- `values.schema.json`: the GoChatCluster spec schema of the operator's CRD (the chart's values
  have the spec's shape), as plain JSON Schema with every object closed (`additionalProperties:
  false`), optional strings allowed empty (the chart's "unset"), an `enabled` flag on each
  optional backend, and the chart's own keys added. Required values are checked by the chart's
  `gochat.validate` template instead, so one message lists every missing one.
- `files/alerts.yaml`: the rule groups of `gochat.contract.monitoring`, verbatim (the template
  fills the namespace and cluster placeholders and keeps the per-cluster group).
- `files/dashboards/*.json`: the contract's dashboards.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from gochat.contract import monitoring
from gochat_operator import chartschema
from gochat_operator.specs import crd

CHART = Path(__file__).resolve().parents[2] / "charts" / "gochat"
Schema = dict[str, Any]
EMPTY = {"type": "string", "maxLength": 0}
OPTIONAL_BACKENDS = ("cassandra", "opensearch", "s3")
# Integers the spec leaves unset by default: null in values.yaml.
NULLABLE = ("streamReplicas", "targetConnectionsPerPod")
# HPA behavior: rendered as given, so its schema keeps what Kubernetes requires of it.
STRICT = ("behavior",)


def loosened(schema: Any, name: str = "", *, strict: bool = False) -> Any:
    """Close every object, drop `required` and `minItems` (the chart's `gochat.validate` checks
    what is required, in one message), let constrained strings be empty (unset). Under a
    STRICT key (a Kubernetes structure passed through as given) only close the objects."""
    if not isinstance(schema, dict):
        return schema
    strict = strict or name in STRICT
    dropped = () if strict else ("required", "minItems")
    result = {k: v for k, v in schema.items() if k not in dropped}
    if "properties" in result:
        result["additionalProperties"] = False
        result["properties"] = {
            k: loosened(v, k, strict=strict) for k, v in result["properties"].items()
        }
    if "items" in result:
        result["items"] = loosened(result["items"], strict=strict)
    if not strict and result.get("type") == "string" and ({"pattern", "minLength"} & result.keys()):
        description = result.pop("description", None)
        result = {"anyOf": [EMPTY, result]}
        if description:
            result["description"] = description
    if name in NULLABLE:
        result["type"] = [result["type"], "null"]
    return result


def values_schema() -> Schema:
    openapi = crd.render_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec: Schema = loosened(chartschema.json_schema(openapi["properties"]["spec"]))
    properties: Schema = spec["properties"]
    for backend in OPTIONAL_BACKENDS:
        properties[backend]["properties"] = {
            "enabled": {"type": "boolean", "description": f"Use {backend}."},
            **properties[backend]["properties"],
        }
    properties["version"] = {
        "anyOf": [EMPTY, properties["version"]],
        "description": "GoChat version; empty: the chart's appVersion.",
    }
    for key in ("nameOverride", "fullnameOverride"):
        properties[key] = {"type": "string", "maxLength": 53}
    properties["global"] = {"type": "object", "description": "Values a parent chart shares."}
    properties["migrations"]["properties"]["enabled"]["description"] = (
        "Run `gochat migrate` as a pre-install/pre-upgrade hook Job (off with the operator)."
    )
    properties["helmTest"] = chartschema.closed(
        {"enabled": {"type": "boolean"}}, description="The `helm test` Pod."
    )
    return {
        "$schema": "https://json-schema.org/draft-07/schema#",
        "title": "Values of the gochat chart",
        **spec,
    }


def alerts_text() -> str:
    """The contract's rules file verbatim: its placeholders are replaced in the raw text, as
    `monitoring.alert_groups` does (a YAML round trip would escape their quotes)."""
    return monitoring.alerts_text()


def generated_files() -> dict[Path, str]:
    """Chart path -> the content it must have."""
    files = {CHART / "values.schema.json": json.dumps(values_schema(), indent=2) + "\n"}
    files[CHART / "files" / "alerts.yaml"] = alerts_text()
    for name, board in monitoring.dashboards().items():
        files[CHART / "files" / "dashboards" / name] = json.dumps(board, indent=2, sort_keys=True)
    return files


def main() -> int:
    for path, content in generated_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        print(f"wrote {path.relative_to(CHART.parents[1])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
