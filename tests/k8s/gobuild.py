"""Recipes that build the control-plane binaries from the Go module proxy.

Each recipe writes a throwaway Go module into a scratch directory and builds into ``out_dir``.
The default GOPATH and GOCACHE are kept on purpose: a second build (CI on the same machine, a
version bump of one component) then takes seconds instead of minutes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

Log = Callable[[str], None]


class BuildError(RuntimeError):
    """A Go command failed; the message names the step and carries the tail of its output."""


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    # Switching CGO_ENABLED invalidates the whole build cache, so it is pinned here.
    env["CGO_ENABLED"] = "0"
    # The machine's toolchain only: fetching another Go from the network is not possible here.
    env["GOTOOLCHAIN"] = "local"
    env.setdefault("GOFLAGS", "-buildvcs=false")
    return env


def run_go(
    args: list[str], *, cwd: Path, step: str, log: Log, extra_env: dict[str, str] | None = None
) -> str:
    started = time.monotonic()
    log(f"  {step}: go {' '.join(args[:3])}{' ...' if len(args) > 3 else ''}")
    proc = subprocess.run(
        ["go", *args],
        cwd=cwd,
        env={**go_env(), **(extra_env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise BuildError(f"{step} failed (go {' '.join(args)}) in {cwd}:\n{tail}")
    log(f"  {step}: done in {time.monotonic() - started:.0f}s")
    return proc.stdout


def write_module(
    work_dir: Path, *, requires: dict[str, str], replaces: dict[str, str], imports: list[str]
) -> None:
    """A module that only exists to pin versions; tools.go keeps ``go mod tidy`` from pruning."""
    work_dir.mkdir(parents=True, exist_ok=True)
    lines = ["module gochat.local/k8sbuild", "", "go 1.25.0", "", "godebug default=go1.25", ""]
    lines += [f"require {path} {version}" for path, version in requires.items()]
    lines += [""] + [f"replace {path} => {path} {version}" for path, version in replaces.items()]
    (work_dir / "go.mod").write_text("\n".join(lines) + "\n")
    body = "\n".join(f'\t_ "{package}"' for package in imports)
    (work_dir / "tools.go").write_text(
        f"//go:build tools\n\npackage tools\n\nimport (\n{body}\n)\n"
    )


def staging_replaces(kubernetes_version: str, *, work_dir: Path, log: Log) -> dict[str, str]:
    """k8s.io/kubernetes points its staging modules at ./staging/...; a dependent module must
    point them at the published k8s.io/X v0.MINOR.PATCH tags instead."""
    work_dir.mkdir(parents=True, exist_ok=True)
    out = run_go(
        ["mod", "download", "-json", f"k8s.io/kubernetes@{kubernetes_version}"],
        cwd=work_dir,
        step="read Kubernetes go.mod",
        log=log,
    )
    go_mod = Path(json.loads(out)["GoMod"]).read_text()
    staging_version = "v0." + kubernetes_version.removeprefix("v").split(".", 1)[1]
    names = re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", go_mod, flags=re.MULTILINE)
    if not names:
        raise BuildError("no ./staging replaces found in Kubernetes' go.mod")
    return dict.fromkeys(names, staging_version)


def version_ldflags(kubernetes_version: str) -> str:
    major, minor = kubernetes_version.removeprefix("v").split(".")[:2]
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={kubernetes_version}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
        ]
    return " ".join(flags)


KUBERNETES_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")


def build_kubernetes(version: str, *, work_dir: Path, out_dir: Path, log: Log) -> None:
    replaces = staging_replaces(version, work_dir=work_dir, log=log)
    log(f"  {len(replaces)} staging replaces at {next(iter(replaces.values()))}")
    packages = [f"k8s.io/kubernetes/cmd/{name}" for name in KUBERNETES_COMMANDS]
    write_module(
        work_dir, requires={"k8s.io/kubernetes": version}, replaces=replaces, imports=packages
    )
    run_go(["mod", "tidy"], cwd=work_dir, step="kubernetes go mod tidy", log=log)
    run_go(
        [
            "build",
            "-trimpath",
            "-ldflags",
            version_ldflags(version),
            "-o",
            f"{out_dir}/",
            *packages,
        ],
        cwd=work_dir,
        step=f"build {', '.join(KUBERNETES_COMMANDS)}",
        log=log,
    )


def build_etcd(version: str, *, work_dir: Path, out_dir: Path, log: Log) -> None:
    # `go install go.etcd.io/etcd/server/v3@...` is refused because etcd's go.mod has replaces.
    package = "go.etcd.io/etcd/server/v3"
    write_module(work_dir, requires={package: version}, replaces={}, imports=[package])
    run_go(["mod", "tidy"], cwd=work_dir, step="etcd go mod tidy", log=log)
    run_go(
        ["build", "-trimpath", "-ldflags", "-s -w", "-o", str(out_dir / "etcd"), package],
        cwd=work_dir,
        step="build etcd",
        log=log,
    )


def go_install(
    package: str, *, work_dir: Path, out_dir: Path, log: Log, ldflags: str = "-s -w"
) -> None:
    work_dir.mkdir(parents=True, exist_ok=True)
    run_go(
        ["install", "-trimpath", "-ldflags", ldflags, package],
        cwd=work_dir,
        step=f"build {package.split('@')[0].rsplit('/', 1)[-1]}",
        log=log,
        extra_env={"GOBIN": str(out_dir)},
    )


def build_helm(version: str, *, work_dir: Path, out_dir: Path, log: Log) -> None:
    """Helm's release build stamps its own version (else `helm version` says only `v4.3`).
    Helm 3 also needs the Kubernetes version it assumes offline (`helm template`, `helm lint`;
    without it v1.20, too old for most charts): like its Makefile, take it from the client-go it
    is built with (v0.37 -> 1.37). Helm 4 reads that from its build info itself."""
    work_dir.mkdir(parents=True, exist_ok=True)
    major = version.lstrip("v").split(".")[0]
    module = f"helm.sh/helm/v{major}"
    flags = ["-s", "-w", f"-X {module}/internal/version.version={version}"]
    if major == "3":
        flags += _helm3_kube_version_flags(module, version, work_dir=work_dir, log=log)
    go_install(
        f"{module}/cmd/helm@{version}",
        work_dir=work_dir,
        out_dir=out_dir,
        log=log,
        ldflags=" ".join(flags),
    )


def _helm3_kube_version_flags(module: str, version: str, *, work_dir: Path, log: Log) -> list[str]:
    out = run_go(
        ["mod", "download", "-json", f"{module}@{version}"],
        cwd=work_dir,
        step="read helm go.mod",
        log=log,
    )
    go_mod = Path(json.loads(out)["GoMod"]).read_text()
    found = re.search(r"^\s*k8s\.io/client-go v0\.(\d+)\.", go_mod, flags=re.MULTILINE)
    if found is None:
        raise BuildError("no k8s.io/client-go requirement in helm's go.mod")
    flags = []
    for package in (f"{module}/pkg/chartutil", f"{module}/pkg/lint/rules"):
        flags += [f"-X {package}.k8sVersionMajor=1", f"-X {package}.k8sVersionMinor={found[1]}"]
    return flags
