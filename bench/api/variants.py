"""Code variants of the API compared in one run: the working tree and, optionally, the package as
it was at a git commit (exported with `git archive`, put first on the API's PYTHONPATH). Each
repetition runs every variant in turn on a fresh platform, so a drift of the shared machine
touches both alike and the ratio between them stays meaningful."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Variant:
    name: str
    api_command: tuple[str, ...] | None  # None: `gochat api` from the working tree
    commit: str


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def working_tree() -> Variant:
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "apps/gochat"],
        capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    head = _git("rev-parse", "HEAD")
    return Variant("working tree", None, head + (" + uncommitted apps/gochat" if dirty else ""))


def at_commit(
    ref: str, *, patches: Sequence[Path] = (), name: str = "", env: Sequence[str] = ()
) -> Variant:
    """apps/gochat as at `ref`, with `patches` (git diffs) applied in order: measures a change
    before it is committed, while the working tree keeps changing. `env`: KEY=VALUE settings
    for the API process (GOCHAT_EVENT_LOOP=asyncio, GOCHAT_WORKERS=2, ...)."""
    commit = _git("rev-parse", ref)
    folder = Path(tempfile.mkdtemp(prefix=f"gochat-bench-api-{commit[:8]}-"))
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit, "apps/gochat"], capture_output=True, check=True
    ).stdout
    with tempfile.TemporaryFile() as raw:
        raw.write(archive)
        raw.seek(0)
        with tarfile.open(fileobj=raw) as tar:
            tar.extractall(folder, filter="data")
    for patch in patches:
        subprocess.run(["git", "apply", str(Path(patch).resolve())], cwd=folder, check=True)
    command = (
        "env", f"PYTHONPATH={folder / 'apps'}", *env, sys.executable, "-m", "gochat", "api"
    )  # fmt: skip
    described = (
        commit
        + "".join(f" + {Path(p).name}" for p in patches)
        + "".join(f" {setting}" for setting in env)
    )
    return Variant(name or f"at {ref}", command, described)


def parse_candidate(text: str, *, ref: str) -> Variant:
    """`NAME=PATCH[,PATCH...]`: `ref` with those patches."""
    name, _, patches = text.partition("=")
    return at_commit(ref, patches=[Path(p) for p in patches.split(",") if p], name=name)


def parse_at(text: str) -> Variant:
    """`NAME=REF[,KEY=VALUE...]`: the commit `ref` as it is, run with those settings."""
    name, _, rest = text.partition("=")
    ref, *env = rest.split(",")
    return at_commit(ref, name=name, env=env)
