"""Write the CRD YAML committed in crds/ (`gochat-operator crd > crds/...`)."""

from __future__ import annotations

import yaml

from gochat_operator.specs import crd

HEADER = (
    "# Generated from operator/gochat_operator/specs/model by `gochat-operator crd`.\n"
    "# Do not edit by hand: tests/operator/test_crd.py fails when this file is stale.\n"
)
CRD_PATH = "crds/gochatclusters.gochat.dev.yaml"


def crd_yaml() -> str:
    return HEADER + yaml.safe_dump(crd.render_crd(), sort_keys=False, width=100)
