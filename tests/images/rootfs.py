"""Read a `docker save`-style tarball and run its entry point without a container engine.

`unpack` applies the layers in order (whiteouts included) into a folder, once per archive.
`command` runs a program of that root filesystem like a restricted pod would: a private mount
namespace with the root bind-mounted read-only, a fresh tmpfs on /tmp (a pod's emptyDir), /proc,
the host's /dev, the shells masked by /dev/null (nothing may need one), the image's user,
working directory and environment, and the host's network (127.0.0.1 reaches the test's
servers).
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


@dataclasses.dataclass(frozen=True)
class Archive:
    path: Path
    repo_tags: list[str]
    config: dict[str, Any]  # the image config's "config" object (User, Entrypoint, ...)
    layers: list[str]

    @property
    def env(self) -> dict[str, str]:
        pairs = (item.split("=", 1) for item in self.config.get("Env") or [])
        return {name: value for name, value in pairs}


def read(path: Path) -> Archive:
    with tarfile.open(path) as archive:
        manifest = json.load(_member(archive, "manifest.json"))[0]
        config = json.load(_member(archive, manifest["Config"]))
    return Archive(
        path=path,
        repo_tags=list(manifest.get("RepoTags") or []),
        config=config["config"],
        layers=list(manifest["Layers"]),
    )


def _member(archive: tarfile.TarFile, name: str) -> Any:
    file = archive.extractfile(name)
    if file is None:
        raise ValueError(f"{name} is not a file in the archive")
    return file


def unpack(image: Archive, target: Path) -> Path:
    """The image's root filesystem under `target` (reused when a previous unpack finished;
    a second session waits for the first instead of unpacking into the same folder)."""
    with target.with_name(target.name + ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _unpack(image, target)


def _unpack(image: Archive, target: Path) -> Path:
    done = target / ".unpacked"
    if done.exists():
        return target / "rootfs"
    if target.exists():
        shutil.rmtree(target)
    rootfs = target / "rootfs"
    rootfs.mkdir(parents=True)
    with tarfile.open(image.path) as archive:
        for layer in image.layers:
            member = archive.extractfile(layer)
            if member is None:
                raise ValueError(f"layer {layer} is not a file in {image.path}")
            blob = target / "layer.tar"
            with blob.open("wb") as out:
                shutil.copyfileobj(member, out)
            _apply_whiteouts(blob, rootfs)
            subprocess.run(
                ["tar", "-x", "--numeric-owner", f"--exclude=*{WHITEOUT}*", "-f", str(blob)],
                cwd=rootfs,
                check=True,
            )
            blob.unlink()
    for mountpoint in ("proc", "dev", "tmp"):
        (rootfs / mountpoint).mkdir(exist_ok=True)
    done.touch()
    return rootfs


def _apply_whiteouts(layer: Path, rootfs: Path) -> None:
    """A layer's `.wh.NAME` deletes NAME of the layers below; `.wh..wh..opq` empties a folder."""
    with tarfile.open(layer) as tar:
        names = [member.name for member in tar if WHITEOUT in member.name]
    for name in names:
        path = Path(name)
        folder = rootfs / path.parent
        if path.name == OPAQUE:
            targets = list(folder.iterdir()) if folder.is_dir() else []
        else:
            targets = [folder / path.name.removeprefix(WHITEOUT)]
        for victim in targets:
            if victim.is_dir() and not victim.is_symlink():
                shutil.rmtree(victim)
            elif victim.exists() or victim.is_symlink():
                victim.unlink()


# Runs as root with the host's Python inside `unshare --mount` (the mounts vanish with it), then
# becomes the image's process: chroot, the image's working directory and user, exec.
_ENTER = """
import os, subprocess, sys
import shutil
root, workdir, uid, gid, seed, *argv = sys.argv[1:]
def mount(*args):
    subprocess.run(["/bin/mount", *args], check=True)
mount("--bind", root, root)
mount("-o", "remount,bind,ro", root)
mount("-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", root + "/tmp")
if seed:  # files the test hands the process (a kubeconfig), owned by the image's user
    shutil.copytree(seed, root + "/tmp", dirs_exist_ok=True)
    os.chmod(root + "/tmp", 0o1777)  # copytree copied the seed folder's mode onto /tmp
    for folder, folders, files in os.walk(root + "/tmp"):
        for name in [*folders, *files]:
            os.chown(os.path.join(folder, name), int(uid), int(gid))
mount("-t", "proc", "proc", root + "/proc")
mount("--rbind", "/dev", root + "/dev")
shells = ["usr/bin/dash", "usr/bin/bash"]
if not os.path.islink(root + "/bin"):  # not merged-/usr
    shells += ["bin/dash", "bin/bash"]
for shell in shells:
    path = os.path.join(root, shell)
    if os.path.isfile(path) and not os.path.islink(path):
        mount("--bind", "/dev/null", path)
os.chroot(root)
os.chdir(workdir)
os.setgroups([])
os.setgid(int(gid))
os.setuid(int(uid))
os.execv(argv[0], argv)
"""


def command(
    image: Archive, rootfs: Path, argv: list[str], *, seed: Path | None = None
) -> list[str]:
    """The host command that runs `argv` (absolute, inside the image) as the image's user, in
    the image's working directory; pass the image's environment to it. `seed`'s files are
    copied into the fresh /tmp first."""
    if not argv[0].startswith("/"):
        raise ValueError(f"{argv[0]!r}: give the absolute path inside the image")
    uid, _, gid = (image.config.get("User") or "0").partition(":")
    workdir = image.config.get("WorkingDir") or "/"
    return [
        "/usr/bin/unshare",
        "--mount",
        sys.executable,
        "-c",
        _ENTER,
        str(rootfs),
        workdir,
        uid,
        gid or "0",
        str(seed or ""),
        *argv,
    ]


def entrypoint(image: Archive, *args: str) -> list[str]:
    """The image's exec-form entry point with `args` in place of CMD (as `docker run IMG args`)."""
    return [*image.config["Entrypoint"], *(args or image.config.get("Cmd") or [])]
