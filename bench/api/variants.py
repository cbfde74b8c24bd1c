"""Code variants of the API compared in one run: the working tree and, optionally, the package as
it was at a git commit (exported with `git archive`, put first on the API's PYTHONPATH). Each
repetition runs every variant in turn on a fresh platform, so a drift of the shared machine
touches both alike and the ratio between them stays meaningful."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Variant:
    name: str
    api_command: tuple[str, ...] | None  # None: `gochat api` from the working tree
    commit: str


def _head() -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip()


def working_tree() -> Variant:
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "apps/gochat"],
        capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    return Variant("working tree", None, _head() + (" + uncommitted apps/gochat" if dirty else ""))


def at_commit(ref: str) -> Variant:
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", ref], capture_output=True, text=True, check=True
    ).stdout.strip()
    folder = Path(tempfile.mkdtemp(prefix=f"gochat-bench-api-{commit[:8]}-"))
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit, "apps/gochat"], capture_output=True, check=True
    ).stdout
    with tempfile.TemporaryFile() as raw:
        raw.write(archive)
        raw.seek(0)
        with tarfile.open(fileobj=raw) as tar:
            tar.extractall(folder, filter="data")
    command = ("env", f"PYTHONPATH={folder / 'apps'}", sys.executable, "-m", "gochat", "api")
    return Variant(f"at {ref}", command, commit)
