"""Building the Go side of the benchmark (the centrifuge anchor and the load generator) once,
cached under ~/.cache/gochat/bench/ keyed by a hash of the module's sources and go.sum, so a
rerun with unchanged sources starts at once."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

GO_MODULE = Path(__file__).resolve().parent / "go"
CACHE = Path.home() / ".cache" / "gochat" / "bench"
COMMANDS = ("anchor", "loadgen")


class GoMissing(RuntimeError):
    """No Go toolchain on PATH: the benchmark cannot build its anchor and load generator."""


def go_available() -> bool:
    return shutil.which("go") is not None


def source_key(module: Path = GO_MODULE) -> str:
    digest = hashlib.sha256()
    for path in sorted(module.rglob("*")):
        if path.is_file() and path.suffix in (".go", ".mod", ".sum"):
            digest.update(str(path.relative_to(module)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build(*, log: object = print) -> dict[str, Path]:
    """Paths of the built commands, building them first when the cache lacks this version."""
    folder = CACHE / f"ws-{source_key()}"
    binaries = {name: folder / name for name in COMMANDS}
    if all(path.exists() for path in binaries.values()):
        return binaries
    if not go_available():
        raise GoMissing("the gateway benchmark needs Go (1.26) on PATH to build its Go parts")
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    # GOTOOLCHAIN=local: never download another toolchain; CGO off: static, cache-stable.
    env = {**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
    for name in COMMANDS:
        log(f"building {name} (go build; a cold module cache takes a few minutes)")  # type: ignore[operator]
        subprocess.run(
            ["go", "build", "-trimpath", "-o", str(partial / name), f"./{name}"],
            cwd=GO_MODULE,
            env=env,
            check=True,
            timeout=1200,
        )
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)  # all or nothing: a killed build leaves only the .partial folder
    return binaries
