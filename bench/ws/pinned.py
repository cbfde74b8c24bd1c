"""Running the benchmark against one committed version of the platform.

The tree is shared and the gateway changes while benchmarks run; a run that imported
whatever the working tree held at each process start would mix versions. So by default the
driver exports `apps/` and `db/` of a commit (HEAD) to ~/.cache/gochat/bench/code-<commit>/ and
re-executes itself with that copy first on PYTHONPATH: every service it starts (api, auth,
migrate, the gateways) and its own imports of `gochat` then come from that commit, which the
results record."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import gobuild

REPO = Path(__file__).resolve().parents[2]
MARK = "GOCHAT_BENCH_CODE"  # set in the re-executed driver: "<commit>" or "worktree"


def current() -> str:
    return os.environ.get(MARK, "worktree")


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()


def export(commit: str) -> Path:
    folder = gobuild.CACHE / f"code-{commit[:12]}"
    if not (folder / "apps").is_dir():
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", commit, "apps", "db"], cwd=REPO, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(partial)], input=archive.stdout, check=True)
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    return folder


def reexec_pinned(ref: str, argv: list[str]) -> None:
    """Unless already pinned (or `ref` is "worktree"), re-run this driver on `ref`'s code."""
    if MARK in os.environ or ref == "worktree":
        return
    commit = _git("rev-parse", "--verify", f"{ref}^{{commit}}")
    folder = export(commit)
    env = {**os.environ, MARK: commit, "PYTHONPATH": str(folder / "apps")}
    script = str(Path(__file__).resolve().parent / "run.py")
    os.execve(sys.executable, [sys.executable, script, *argv], env)


def describe() -> dict[str, str]:
    code = current()
    if code == "worktree":
        dirty = _git("status", "--short", "--", "apps")
        return {"code": "worktree", "head": _git("rev-parse", "HEAD"), "dirty": dirty}
    subject = _git("log", "-1", "--format=%h %ad %s", "--date=iso-strict", code)
    return {"code": code, "commit": subject}
