"""Every chart under charts/ passes `helm lint --strict` and renders with every values file
under its ci/ folder (the files CI tools such as chart-testing install too)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.charts.helm_support import CHARTS, HELM_ENV, Helm
from tests.k8s import tools

CI_VALUES = sorted(
    (chart_yaml.parent, values)
    for chart_yaml in CHARTS.glob("*/Chart.yaml")
    for values in sorted((chart_yaml.parent / "ci").glob("*.yaml"))
)


def test_there_are_charts_to_lint() -> None:
    """A glob that matches nothing must not make the lint below pass vacuously."""
    assert CI_VALUES, f"no charts/*/ci/*.yaml under {CHARTS}"
    assert {chart.name for chart, _ in CI_VALUES} >= {"gochat-operator"}


@pytest.mark.parametrize(
    ("chart", "values"), CI_VALUES, ids=[f"{c.name}/{v.name}" for c, v in CI_VALUES]
)
def test_chart_lints_strictly_and_renders(helm: Helm, chart: Path, values: Path) -> None:
    linted = helm.run("lint", "--strict", str(chart), "-f", str(values))
    assert "1 chart(s) linted, 0 chart(s) failed" in linted.stdout, linted.stdout
    documents = helm.template(chart, "-f", str(values))
    assert documents, f"{chart.name} with {values.name} renders nothing"


def test_helm_is_the_pinned_build_and_says_so(helm: Helm) -> None:
    """The build stamps its version (`-ldflags -X`); an unstamped Helm 4 says only `v4.3`."""
    if os.environ.get(HELM_ENV):
        pytest.skip(f"{HELM_ENV} names another helm")
    version = helm.run("version", "--template", "{{.Version}}").stdout.strip()
    assert version == tools.PINNED.helm
