"""One source for the image names (`gochat.contract.images`): the operator's GoChatCluster
default, both charts, operator/deploy and the image build all name the same two images, and
the operator never runs from the services image (which has no kopf or Kubernetes client)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gochat.contract import images
from gochat_operator.specs import bundle
from gochat_operator.specs.model import workloads
from tests.images import build
from tests.operator import cluster_inputs

ROOT = Path(__file__).resolve().parents[2]


def values(chart: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "charts" / chart / "values.yaml").read_text())
    return loaded


def test_the_image_build_names_the_contract_images() -> None:
    assert build.SERVICES.name == images.SERVICES
    assert build.OPERATOR.name == images.OPERATOR


def test_the_operator_and_both_charts_default_to_the_contract_images() -> None:
    assert workloads.Image().repository == images.SERVICES
    assert values("gochat")["image"]["repository"] == images.SERVICES
    assert values("gochat-operator")["image"]["repository"] == images.OPERATOR


def test_operator_deploy_runs_the_operator_image() -> None:
    text = (ROOT / "operator" / "deploy" / "operator.yaml").read_text()
    (deployment,) = [d for d in yaml.safe_load_all(text) if d and d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    repository, _, tag = container["image"].rpartition(":")
    assert repository == images.OPERATOR
    assert tag


def test_without_tag_or_digest_the_image_is_tagged_with_the_version() -> None:
    image = workloads.Image(repository="r")
    assert image.reference("1.2.3") == "r:1.2.3"
    assert workloads.Image(repository="r", tag="t").reference("1.2.3") == "r:t"
    digest = "sha256:" + "a" * 64
    assert workloads.Image(repository="r", digest=digest).reference("1.2.3") == f"r@{digest}"


def test_a_case_without_tag_or_digest_renders_the_version_tag() -> None:
    cluster = cluster_inputs.cluster_input("sendpulse")
    assert cluster.spec.image.tag is None and cluster.spec.image.digest is None
    job = bundle.render_migration_job(cluster)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{images.SERVICES}:{cluster.spec.version}"
