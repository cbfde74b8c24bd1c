"""The image builder for machines without a container engine: buildah, as root.

No registry here either, so images that name ``${BASE}`` get a Debian bookworm base made with
debootstrap (python3 is 3.11 there, like the official python image's), imported into buildah's
own storage (vfs, under ~/.cache/gochat/buildah/ via CONTAINERS_STORAGE_CONF, never the host's
/var/lib/containers). Builds run with ``--isolation chroot``; their product is the tarball, so
the image and its builder stage are dropped from that storage afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.fixtures import debian
from tests.images import layout

BUILDAH_DIR = layout.CACHE / "buildah"
SUITE = "bookworm"
# python3 (3.11 in bookworm) and python3-venv for the builder's uv venv; CA certificates for
# the services' own HTTPS clients (S3, SendPulse, OpenSearch).
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")


class Buildah:
    """``tests.images.builders.Builder`` with buildah (root, Linux)."""

    name = "buildah"

    def base_identity(self) -> bytes:
        return base_key().encode()

    def build(
        self,
        *,
        context: Path,
        reference: str,
        archive: Path,
        dockerfile: Path | None = None,
        on_base: bool = False,
    ) -> None:
        ensure_tools()
        base = [f"--build-arg=BASE={ensure_base()}"] if on_base else []
        run("rm", "--all")  # working containers an interrupted build left in our own storage
        run(
            "bud", "--isolation", "chroot",
            "--format", "docker",  # HEALTHCHECK survives only in the docker format
            "--pull-never",
            # No --layers: with vfs every cached step is a full copy of the tree (GBs, minutes
            # to delete); the content key is the cache instead.
            *base, *layout.ca_secret(),
            *(["-f", str(dockerfile)] if dockerfile else []),
            "-t", reference, str(context),
        )  # fmt: skip
        self._save_and_drop(reference, archive)

    def derive(
        self,
        source: Path,
        *,
        reference: str,
        archive: Path,
        env: dict[str, str],
        labels: dict[str, str],
        entrypoint: list[str] | None = None,
    ) -> None:
        ensure_tools()
        container = run("from", f"docker-archive:{source}", capture=True).strip()
        try:
            run(
                "config",
                *(f"--env={name}={value}" for name, value in env.items()),
                *(f"--label={name}={value}" for name, value in labels.items()),
                *(["--entrypoint", json.dumps(entrypoint)] if entrypoint else []),
                container,
            )
            run("commit", "--format", "docker", "--quiet", container, reference)
        finally:
            run("rm", container)
        self._save_and_drop(reference, archive)

    def _save_and_drop(self, reference: str, archive: Path) -> None:
        def push(partial: Path) -> None:
            run("push", "--quiet", reference, f"docker-archive:{partial}:{reference}")

        layout.publish(archive, push)
        run("rmi", "--force", reference)
        run("rmi", "--prune")  # the builder stage a multi-stage build left untagged


def debian_mirror() -> str:
    """The mirror apt on this machine uses (debootstrap must reach the same one)."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    return "http://deb.debian.org/debian"


def ensure_tools() -> None:
    """Install buildah and debootstrap from Debian when missing (root only)."""
    missing = [tool for tool in ("buildah", "debootstrap") if shutil.which(tool) is None]
    if missing:
        debian.install(missing, log=layout.log)


def storage_env() -> dict[str, str]:
    """buildah with vfs storage of the project's own (never the host's /var/lib/containers)."""
    BUILDAH_DIR.mkdir(parents=True, exist_ok=True)
    conf = BUILDAH_DIR / "storage.conf"
    text = (
        "[storage]\n"
        'driver = "vfs"\n'
        f'runroot = "{BUILDAH_DIR / "run"}"\n'
        f'graphroot = "{BUILDAH_DIR / "storage"}"\n'
    )
    if not conf.exists() or conf.read_text() != text:
        conf.write_text(text)
    return {**os.environ, "CONTAINERS_STORAGE_CONF": str(conf), "BUILDAH_ISOLATION": "chroot"}


def run(*args: str, capture: bool = False) -> str:
    result = subprocess.run(
        ["buildah", *args],
        check=True,
        env=storage_env(),
        stdout=subprocess.PIPE if capture else None,
        text=True,
    )
    return result.stdout if capture else ""


def has_image(reference: str) -> bool:
    result = subprocess.run(
        ["buildah", "inspect", "--type", "image", reference],
        env=storage_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return result.returncode == 0


def base_key() -> str:
    return layout.digest(
        [layout.HARNESS_VERSION.encode(), SUITE.encode(), " ".join(BASE_PACKAGES).encode()]
    )


def ensure_base() -> str:
    """The local Debian base image's reference, built once per key (debootstrap, minbase)."""
    reference = f"localhost/gochat-base:{base_key()}"
    if has_image(reference):
        return reference
    work = layout.IMAGES_DIR / f"base-{base_key()}"
    rootfs = work / "rootfs"
    if work.exists():  # a killed debootstrap may have left /proc or /sys mounted inside
        unmount_under(work)
        shutil.rmtree(work)
    rootfs.mkdir(parents=True)
    started = time.monotonic()
    layout.log(f"debootstrap {SUITE} ({', '.join(BASE_PACKAGES)}) from {debian_mirror()}")
    subprocess.run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(BASE_PACKAGES)}",
            SUITE,
            str(rootfs),
            debian_mirror(),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    # Nothing of this machine in the image: resolver, hostname, apt lists, logs.
    for name in ("etc/resolv.conf", "etc/hostname"):
        (rootfs / name).write_text("")
    # Translations, man pages and docs (copyright files kept): ~50 MB nobody reads in a pod.
    for folder in ("usr/share/locale", "usr/share/man", "usr/share/info"):
        shutil.rmtree(rootfs / folder, ignore_errors=True)
    for doc in (rootfs / "usr/share/doc").rglob("*"):
        if doc.is_file() and doc.name != "copyright":
            doc.unlink()
    for folder in ("var/lib/apt/lists", "var/cache/apt", "var/log"):
        for child in (rootfs / folder).glob("*"):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    subprocess.run(
        ["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(work / "rootfs.tar"), "."],
        check=True,
    )
    shutil.rmtree(rootfs)
    (work / "Dockerfile").write_text('FROM scratch\nADD rootfs.tar /\nCMD ["/bin/bash"]\n')
    run("bud", "--isolation", "chroot", "--format", "docker", "-t", reference, str(work))
    shutil.rmtree(work)
    layout.log(f"base {reference} in {time.monotonic() - started:.0f}s")
    listed = run("images", "--format", "{{.Name}}:{{.Tag}}", capture=True).split()
    for stale in listed:
        if stale.startswith("localhost/gochat-base:") and stale != reference:
            run("rmi", "--force", stale)
    return reference


def unmount_under(folder: Path) -> None:
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mountpoint in sorted(mounts, key=len, reverse=True):
        if Path(mountpoint).is_relative_to(folder):
            subprocess.run(["umount", "--lazy", mountpoint], check=True)
