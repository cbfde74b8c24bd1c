"""Measuring one committed version of the platform while the shared working tree changes
(as bench/ws/pinned.py does for the gateway): the driver exports `apps/` and `db/` of a commit
to ~/.cache/gochat/bench/code-<commit>/ and re-runs itself with that copy first on PYTHONPATH,
so every `gochat` import of the run comes from that commit, which the results record."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gochat" / "bench"
MARK = "GOCHAT_BENCH_CODE"  # set in the re-run driver: the commit


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def export(commit: str) -> Path:
    folder = CACHE / f"code-{commit[:12]}"
    if not (folder / "apps").is_dir():
        partial = folder.with_name(folder.name + f".partial-{os.getpid()}")
        partial.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", commit, "apps", "db"], cwd=REPO, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(partial)], input=archive.stdout, check=True)
        if not (folder / "apps").is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            partial.rename(folder)
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def reexec(ref: str, module: str, argv: list[str]) -> None:
    """Unless already pinned (or `ref` is "worktree"), re-run `module` on `ref`'s code."""
    if MARK in os.environ or ref == "worktree":
        return
    commit = _git("rev-parse", "--verify", f"{ref}^{{commit}}")
    folder = export(commit)
    env = {**os.environ, MARK: commit, "PYTHONPATH": f"{folder / 'apps'}:{REPO}"}
    os.chdir(REPO)
    os.execve(sys.executable, [sys.executable, "-m", module, *argv], env)


def describe() -> dict[str, str]:
    import gochat

    code = os.environ.get(MARK, "worktree")
    described = {"code": code, "head": _git("rev-parse", "HEAD"), "gochat_from": gochat.__file__}
    if code == "worktree":
        described["apps_db_changes"] = _git("status", "--short", "--", "apps", "db")
    else:
        described["commit"] = _git("log", "-1", "--format=%h %ad %s", "--date=iso-strict", code)
    return described
