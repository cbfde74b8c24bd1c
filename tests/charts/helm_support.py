"""Running the pinned helm build on the charts under charts/."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ROOT / "charts"
# Another helm binary to run the chart tests with (the pinned build otherwise).
HELM_ENV = "GOCHAT_TEST_HELM"


class Helm:
    def __init__(self, binary: Path) -> None:
        self.binary = binary

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.binary), *args], capture_output=True, text=True, timeout=120, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result

    def template(
        self, chart: Path, *args: str, values: dict[str, Any] | None = None, tmp: Path | None = None
    ) -> list[dict[str, Any]]:
        """`helm template` of `chart`; the rendered documents, empty ones dropped."""
        extra: list[str] = []
        if values is not None:
            assert tmp is not None
            file = tmp / "values.yaml"
            file.write_text(yaml.safe_dump(values))
            extra = ["-f", str(file)]
        out = self.run("template", "release", str(chart), "-n", "gochat-system", *extra, *args)
        return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def by_kind(documents: Sequence[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in documents if doc["kind"] == kind]
