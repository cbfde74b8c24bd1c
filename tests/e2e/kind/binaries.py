"""Go-built binaries a kind node needs: kind itself, the node's Kubernetes binaries, crictl and
the programs inside the component images (CoreDNS, pause, local-path-provisioner).

The Kubernetes binaries come from the same throwaway module recipe (and so the same Go module
and build caches) as the local control plane in ``tests/k8s``: only the commands differ.
"""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

from tests.k8s import gobuild, tools

from . import cache

# kubeadm, kubelet, kubectl go into the node; kube-proxy into its image; the control plane's
# static pods get their own images too.
NODE_COMMANDS = (
    "kubeadm",
    "kubelet",
    "kubectl",
    "kube-proxy",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
)

PAUSE_MAIN = """\
// The pod sandbox process: sleeps, reaps zombies, exits 0 on SIGINT/SIGTERM.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s == syscall.SIGCHLD {
			for {
				var ws syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}
"""


def kind(versions: cache.Versions, *, log: cache.Log) -> Path:
    def build(staging: Path) -> None:
        gobuild.go_install(
            f"sigs.k8s.io/kind@{versions.kind}",
            work_dir=staging / "work",
            out_dir=staging,
            log=log,
        )
        _drop(staging / "work")

    return cached(versions.bin_entries["kind"], "kind", build=build, log=log)


def kubernetes(versions: cache.Versions, *, log: cache.Log) -> Path:
    """A directory with every command in NODE_COMMANDS."""

    def build(staging: Path) -> None:
        work = staging / "work"
        replaces = gobuild.staging_replaces(versions.kubernetes, work_dir=work, log=log)
        packages = [f"k8s.io/kubernetes/cmd/{name}" for name in NODE_COMMANDS]
        gobuild.write_module(
            work,
            requires={"k8s.io/kubernetes": versions.kubernetes},
            replaces=replaces,
            imports=packages,
        )
        gobuild.run_go(["mod", "tidy"], cwd=work, step="kubernetes go mod tidy", log=log)
        gobuild.run_go(
            [
                "build",
                "-trimpath",
                "-ldflags",
                gobuild.version_ldflags(versions.kubernetes),
                "-o",
                f"{staging}/",
                *packages,
            ],
            cwd=work,
            step=f"build {', '.join(NODE_COMMANDS)}",
            log=log,
        )
        _drop(work)

    name = versions.bin_entries["kubernetes"]
    return cached(name, "Kubernetes binaries", build=build, log=log)


def etcd(versions: cache.Versions, *, log: cache.Log) -> Path:
    """The local control plane's etcd when it is the same version (it usually is)."""
    version = versions.etcd
    if tools.PINNED.etcd == version and (tools.bin_dir() / "etcd").exists():
        return tools.bin_dir()

    def build(staging: Path) -> None:
        gobuild.build_etcd(version, work_dir=staging / "work", out_dir=staging, log=log)
        _drop(staging / "work")

    return cached(versions.bin_entries["etcd"], "etcd", build=build, log=log)


def coredns(versions: cache.Versions, *, log: cache.Log) -> Path:
    """CoreDNS with ``versions.coredns_plugins`` only: its own main package imports every
    plugin, so a throwaway main imports just these (the way CoreDNS documents compiling in a
    chosen set), built against CoreDNS's own dependency versions."""
    module = "github.com/coredns/coredns"

    def build(staging: Path) -> None:
        work = staging / "work"
        work.mkdir(parents=True)
        (work / "go.mod").write_text(
            f"module gochat.local/coredns\n\ngo 1.25.0\n\nrequire {module} {versions.coredns}\n"
        )
        (work / "main.go").write_text(coredns_main(versions.coredns_plugins))
        gobuild.run_go(["mod", "tidy"], cwd=work, step="coredns go mod tidy", log=log)
        gobuild.run_go(
            ["build", "-trimpath", "-ldflags", "-s -w", "-o", str(staging / "coredns"), "."],
            cwd=work,
            step=f"build coredns ({len(versions.coredns_plugins)} plugins)",
            log=log,
        )
        _drop(work)

    return cached(versions.bin_entries["coredns"], "coredns", build=build, log=log)


def coredns_main(plugins: tuple[str, ...]) -> str:
    imports = "".join(f'\t_ "github.com/coredns/coredns/plugin/{name}"\n' for name in plugins)
    return (
        "// CoreDNS with the plugins a kind cluster needs (tests/e2e/kind/cache.py).\n"
        "package main\n\n"
        f'import (\n\t"github.com/coredns/coredns/coremain"\n\n{imports})\n\n'
        "func main() {\n\tcoremain.Run()\n}\n"
    )


def local_path_provisioner(versions: cache.Versions, *, log: cache.Log) -> Path:
    version = versions.local_path_provisioner
    return _go_install(
        f"github.com/rancher/local-path-provisioner@{version}",
        versions.bin_entries["local-path-provisioner"],
        log=log,
    )


def crictl(versions: cache.Versions, *, log: cache.Log) -> Path:
    return _go_install(
        f"sigs.k8s.io/cri-tools/cmd/crictl@{versions.crictl}",
        versions.bin_entries["crictl"],
        log=log,
    )


def skaffold(versions: cache.Versions, *, log: cache.Log) -> Path:
    """skaffold for the developer loop, built as its own release does (tags, version stamp).

    ``go install ...@version`` cannot build it: skaffold's go.mod has replace directives (and
    the proxy refuses the version list go install asks for), so the module's source is copied
    out of the module cache and built as the main module, where its replaces apply.
    """
    module = "github.com/GoogleContainerTools/skaffold/v2"
    version = versions.skaffold

    def build(staging: Path) -> None:
        work = staging / "work"
        work.mkdir(parents=True)
        out = gobuild.run_go(
            ["mod", "download", "-json", f"{module}@{version}"],
            cwd=work,
            step="download skaffold",
            log=log,
        )
        source = work / "skaffold"
        shutil.copytree(json.loads(out)["Dir"], source)
        for path in [source, *source.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
        gobuild.run_go(
            [
                "build",
                "-trimpath",
                "-tags",
                "timetzdata osusergo netgo release",
                "-ldflags",
                f"-s -w -X {module}/pkg/skaffold/version.version={version}",
                "-o",
                str(staging / "skaffold"),
                "./cmd/skaffold",
            ],
            cwd=source,
            step="build skaffold",
            log=log,
        )
        _drop(work)

    return cached(versions.bin_entries["skaffold"], "skaffold", build=build, log=log)


def skaffold_helm(versions: cache.Versions, *, log: cache.Log) -> Path:
    """The Helm 3 skaffold's helm deployer runs (see ``Versions.skaffold_helm``)."""

    def build(staging: Path) -> None:
        gobuild.build_helm(
            versions.skaffold_helm, work_dir=staging / "work", out_dir=staging, log=log
        )
        _drop(staging / "work")

    return cached(versions.bin_entries["helm"], "helm 3", build=build, log=log)


def pause(versions: cache.Versions, *, log: cache.Log) -> Path:
    def build(staging: Path) -> None:
        work = staging / "work"
        work.mkdir(parents=True)
        (work / "go.mod").write_text("module gochat.local/pause\n\ngo 1.25.0\n")
        (work / "main.go").write_text(PAUSE_MAIN)
        gobuild.run_go(
            ["build", "-trimpath", "-ldflags", "-s -w", "-o", str(staging / "pause"), "."],
            cwd=work,
            step="build pause",
            log=log,
        )
        _drop(work)

    return cached(versions.bin_entries["pause"], "pause", build=build, log=log)


def _go_install(package: str, name: str, *, log: cache.Log) -> Path:
    def build(staging: Path) -> None:
        gobuild.go_install(package, work_dir=staging / "work", out_dir=staging, log=log)
        _drop(staging / "work")

    return cached(name, name.rsplit("-", 1)[0], build=build, log=log)


def cached(name: str, step: str, *, build: cache.BuildStep, log: cache.Log) -> Path:
    """A directory under the cache holding the binaries ``build`` put there."""
    return cache.cached(cache.cache_root() / "bin" / name, step=step, build=build, log=log)


def _drop(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
