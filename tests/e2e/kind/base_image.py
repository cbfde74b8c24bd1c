"""The kind base image, built without any registry: a Debian rootfs from debootstrap with
Debian's containerd, runc and CNI plugins, laid out like kind's own ``images/base``.

Two cached artifacts: the debootstrap rootfs as a zstd tarball (~3.5 min cold), and the base
image itself is re-imported from it in seconds whenever a dockerd lacks it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.k8s import gobuild

from . import cache

MIRROR = "http://deb.debian.org/debian"
PAUSE = "registry.k8s.io/pause"
PACKAGES = (
    "systemd,systemd-sysv,dbus,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,"
    "kmod,libseccomp2,pigz,bash,ca-certificates,curl,jq,procps,containerd,runc,"
    "containernetworking-plugins,socat,e2fsprogs"
)

# kind calls `ctr info` (containerd 2.x only) and `ctr content fetch` for images missing from a
# release tarball; Debian's ctr 1.6 lacks the first and there is no registry for the second.
CTR_WRAPPER = """\
#!/bin/bash
args=" $* "
if [[ $args == *" info "* ]]; then exec /usr/bin/ctr version; fi
if [[ $args == *" content fetch "* ]]; then
  echo "ctr: no registry here; not fetching ${!#}" >&2; exit 0
fi
exec /usr/bin/ctr "$@"
"""

# What kind's images/base/Dockerfile does after copying its files, minus the downloads.
FINISH_ROOTFS = r"""
set -eu
find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete
rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
  /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
  /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*
echo ReadKMsg=no >> /etc/systemd/journald.conf
[ -e /sbin/init ] || ln -s /usr/lib/systemd/systemd /sbin/init
systemctl enable kubelet.service containerd.service undo-mount-hacks.service
systemctl mask systemd-binfmt.service
mkdir -p /etc/kubernetes/manifests
hook='{"path": "/kind/bin/mount-product-files.sh"}'
ctr oci spec \
  | jq --argjson h "$hook" '.hooks.createContainer[.hooks.createContainer | length] |= $h' \
  | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json
# systemd in a privileged node applies sysctl.d to the HOST (its /proc/sys is writable).
rm -f /usr/lib/sysctl.d/*.conf
apt-get clean; rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log
: > /etc/resolv.conf; : > /etc/hostname; rm -f /etc/machine-id; touch /etc/machine-id
"""

# A static single-node pod network: kindnetd is not built here (the Go module proxy refuses it).
CNI_CONFLIST = """\
{
  "cniVersion": "0.4.0",
  "name": "gochat-kind",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
"""


def rootfs_tarball(versions: cache.Versions, *, log: cache.Log) -> Path:
    """The debootstrapped Debian rootfs as ``rootfs-<suite>.tar.zst``."""

    def build(staging: Path) -> None:
        with tempfile.TemporaryDirectory(dir=cache.cache_root()) as scratch:
            root = Path(scratch) / "rootfs"
            run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={PACKAGES}",
                    versions.debian,
                    str(root),
                    MIRROR,
                ],
                step="debootstrap",
            )
            pack(root, staging)

    target = cache.cache_root() / "base" / versions.rootfs_tarball
    return cache.cached(target, step=f"debootstrap {versions.debian}", build=build, log=log)


def kind_module(versions: cache.Versions, *, log: cache.Log) -> Path:
    """The kind module's source in the Go module cache."""
    with tempfile.TemporaryDirectory() as scratch:
        out = gobuild.run_go(
            ["mod", "download", "-json", f"sigs.k8s.io/kind@{versions.kind}"],
            cwd=Path(scratch),
            step="locate the kind module",
            log=log,
        )
    return Path(json.loads(out)["Dir"])


def kind_base_files(versions: cache.Versions, *, log: cache.Log) -> Path:
    """kind's ``images/base/files`` from the kind module in the Go module cache."""
    files = kind_module(versions, log=log) / "images" / "base" / "files"
    if not files.is_dir():
        raise cache.BuildError(f"kind {versions.kind} has no images/base/files at {files}")
    return files


def base_tarball(versions: cache.Versions, *, crictl: Path, log: cache.Log) -> Path:
    """The finished base rootfs (kind's layout, Debian's binaries) as ``kind-base-*.tar.zst``."""

    def build(staging: Path) -> None:
        rootfs = rootfs_tarball(versions, log=log)
        files = kind_base_files(versions, log=log)
        with tempfile.TemporaryDirectory(dir=cache.cache_root()) as scratch:
            root = Path(scratch) / "rootfs"
            root.mkdir()
            run(["tar", "--zstd", "-xpf", str(rootfs), "-C", str(root)], step="unpack rootfs")
            copy_kind_files(files, root)
            _lay_out(root, crictl=crictl)
            _configure_containerd(root / "etc/containerd/config.toml", versions)
            run(["chroot", str(root), "/bin/bash", "-c", FINISH_ROOTFS], step="finish rootfs")
            pack(root, staging)

    target = cache.cache_root() / "base" / versions.base_tarball
    return cache.cached(target, step="kind base rootfs", build=build, log=log)


def copy_kind_files(files: Path, root: Path) -> None:
    """Like the Dockerfile's ``COPY files/ /``: the module cache's files are read-only, and
    copying their modes would leave /kind, /usr/local/bin and /etc/sysctl.d read-only too."""
    for source in sorted(files.rglob("*")):
        target = root / source.relative_to(files)
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            target.chmod(0o755)
        else:
            target.unlink(missing_ok=True)
            shutil.copyfile(source, target)
            target.chmod(0o755 if source.stat().st_mode & 0o111 else 0o644)


def _configure_containerd(config: Path, versions: cache.Versions) -> None:
    """kind's config, with the pause image built here and without oom_score_adj changes
    (the node lacks CAP_SYS_RESOURCE on these machines)."""
    text = config.read_text()
    kinds_pause = 'sandbox_image = "registry.k8s.io/pause:3.10"'
    for old, new in (
        (kinds_pause, f'sandbox_image = "{PAUSE}:{versions.pause}"'),
        ("restrict_oom_score_adj = false", "restrict_oom_score_adj = true"),
    ):
        if old not in text:
            raise cache.BuildError(f"kind's containerd config.toml has no `{old}` any more")
        text = text.replace(old, new)
    config.write_text(text)


def _lay_out(root: Path, *, crictl: Path) -> None:
    for directory in ("kind", "kind/bin", "usr/local/bin"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    for script in (root / "kind" / "bin").iterdir():
        script.chmod(0o755)
    for script in (root / "usr" / "local" / "bin").iterdir():
        script.chmod(0o755)
    ctr = root / "usr/local/bin/ctr"
    ctr.write_text(CTR_WRAPPER)
    ctr.chmod(0o755)
    shutil.copy(crictl / "crictl", root / "usr/local/bin/crictl")
    for name in (
        "containerd",
        "containerd-shim",
        "containerd-shim-runc-v1",
        "containerd-shim-runc-v2",
    ):
        if (root / "usr/bin" / name).exists():
            link = root / "usr/local/bin" / name
            link.unlink(missing_ok=True)
            link.symlink_to(f"/usr/bin/{name}")
    (root / "opt/cni").mkdir(parents=True, exist_ok=True)
    cni_bin = root / "opt/cni/bin"
    if cni_bin.is_symlink() or not cni_bin.exists():
        cni_bin.unlink(missing_ok=True)
        cni_bin.symlink_to("/usr/lib/cni")
    net_d = root / "etc/cni/net.d"
    net_d.mkdir(parents=True, exist_ok=True)
    (net_d / "10-gochat-bridge.conflist").write_text(CNI_CONFLIST)


def pack(root: Path, tarball: Path) -> None:
    run(
        ["tar", "--numeric-owner", "--zstd", "-cf", str(tarball), "-C", str(root), "."],
        step=f"pack {tarball.name}",
    )


def run(command: list[str], *, step: str, stdin: bytes | None = None) -> str:
    proc = subprocess.run(command, input=stdin, capture_output=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).decode(errors="replace").splitlines()[-30:])
        raise cache.BuildError(f"{step} failed ({' '.join(command[:4])} ...):\n{tail}")
    return proc.stdout.decode(errors="replace")
