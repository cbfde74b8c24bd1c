"""Runtime jars from Maven Central, fetched once into a cache folder (the JVM servers' harness)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from gochat.embedded import process


def fetch_runtime_jars(lib: Path, *, pom: str, what: str) -> None:
    """Fill `lib` with the runtime dependencies of `pom` (`mvn dependency:copy-dependencies`).
    Raises process.ServerStartError naming `what` when mvn is missing or fails."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise process.ServerStartError(f"{what}'s jars are not cached and mvn is not installed")
    staging = Path(tempfile.mkdtemp(prefix="gochat-maven-jars-"))
    try:
        (staging / "pom.xml").write_text(pom)
        result = subprocess.run(
            [mvn, "-q", "-B", "dependency:copy-dependencies", "-DincludeScope=runtime",
             f"-DoutputDirectory={staging / 'lib'}"],
            cwd=staging, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise process.ServerStartError(
                f"mvn could not fetch {what}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
            )
        lib.parent.mkdir(parents=True, exist_ok=True)
        # A rename is atomic: two sessions downloading at once both end with a whole folder.
        if not lib.exists():
            os.replace(staging / "lib", lib)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
