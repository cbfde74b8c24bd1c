"""Build the GoChat images with buildah and export `docker save`-style tarballs.

    python -m tests.images.build [ensure|paths]

No container engine and no registry here, so: a Debian bookworm base made with debootstrap
(python3 is 3.11 there), imported into buildah's own storage (vfs, under
~/.cache/gochat/buildah/ via CONTAINERS_STORAGE_CONF), then `buildah bud --isolation chroot
--build-arg BASE=<that base>` of the repo's Dockerfile and Dockerfile.operator. Each result is
cached by a content key (the Dockerfile, the base's key and every file the build copies):
~/.cache/gochat/images/<key>/<name>-<version>.tar, so a second run takes seconds.
Users with Docker get the same images from `docker build` with the official python base.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from tests.fixtures import debian

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("GOCHAT_IMAGE_CACHE", Path.home() / ".cache" / "gochat"))
BUILDAH_DIR = CACHE / "buildah"
IMAGES_DIR = CACHE / "images"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
SUITE = "bookworm"
# python3 (3.11 in bookworm) and python3-venv for the builder's uv venv; CA certificates for
# the services' own HTTPS clients (S3, SendPulse, OpenSearch).
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
HARNESS_VERSION = "2"  # bump to rebuild everything after a change in how images are made
# Paths the Dockerfiles COPY (the content key covers exactly these).
CONTEXT = ("pyproject.toml", "uv.lock", "README.md", "apps", "operator", "db", "docker")


@dataclasses.dataclass(frozen=True)
class Image:
    name: str  # fully qualified repository, as `docker save` records it
    dockerfile: str

    def reference(self, version: str) -> str:
        return f"{self.name}:{version}"


SERVICES = Image(name="docker.io/gochat/gochat", dockerfile="Dockerfile")
OPERATOR = Image(name="docker.io/gochat/gochat-operator", dockerfile="Dockerfile.operator")
IMAGES = (SERVICES, OPERATOR)


def log(message: str) -> None:
    print(f"[images] {message}", file=sys.stderr, flush=True)


def project_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


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
        debian.install(missing, log=log)


def buildah_env() -> dict[str, str]:
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


def buildah(*args: str, capture: bool = False) -> str:
    result = subprocess.run(
        ["buildah", *args],
        check=True,
        env=buildah_env(),
        stdout=subprocess.PIPE if capture else None,
        text=True,
    )
    return result.stdout if capture else ""


def has_image(reference: str) -> bool:
    result = subprocess.run(
        ["buildah", "inspect", "--type", "image", reference],
        env=buildah_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return result.returncode == 0


def digest(parts: list[bytes]) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(len(part).to_bytes(8, "big"))
        sha.update(part)
    return sha.hexdigest()[:16]


def base_key() -> str:
    return digest([HARNESS_VERSION.encode(), SUITE.encode(), " ".join(BASE_PACKAGES).encode()])


def ensure_base() -> str:
    """The local Debian base image's reference, built once per key (debootstrap, minbase)."""
    reference = f"localhost/gochat-base:{base_key()}"
    if has_image(reference):
        return reference
    work = IMAGES_DIR / f"base-{base_key()}"
    rootfs = work / "rootfs"
    if work.exists():  # a killed debootstrap may have left /proc or /sys mounted inside
        unmount_under(work)
        shutil.rmtree(work)
    rootfs.mkdir(parents=True)
    started = time.monotonic()
    log(f"debootstrap {SUITE} ({', '.join(BASE_PACKAGES)}) from {debian_mirror()}")
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
    buildah("bud", "--isolation", "chroot", "--format", "docker", "-t", reference, str(work))
    shutil.rmtree(work)
    log(f"base {reference} in {time.monotonic() - started:.0f}s")
    listed = buildah("images", "--format", "{{.Name}}:{{.Tag}}", capture=True).split()
    for stale in listed:
        if stale.startswith("localhost/gochat-base:") and stale != reference:
            buildah("rmi", "--force", stale)
    return reference


def unmount_under(folder: Path) -> None:
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mountpoint in sorted(mounts, key=len, reverse=True):
        if Path(mountpoint).is_relative_to(folder):
            subprocess.run(["umount", "--lazy", mountpoint], check=True)


def context_files() -> Iterator[Path]:
    for entry in CONTEXT:
        path = ROOT / entry
        if path.is_file():
            yield path
            continue
        for file in sorted(path.rglob("*")):
            relative = file.relative_to(ROOT).as_posix()
            if (
                file.is_file()
                and "__pycache__" not in file.parts
                and file.suffix != ".pyc"
                and not relative.startswith("operator/deploy")
            ):
                yield file


def image_key(image: Image) -> str:
    parts = [HARNESS_VERSION.encode(), base_key().encode(), image.dockerfile.encode()]
    parts += [(ROOT / image.dockerfile).read_bytes(), (ROOT / ".dockerignore").read_bytes()]
    for file in context_files():
        parts += [file.relative_to(ROOT).as_posix().encode(), file.read_bytes()]
    return digest(parts)


def archive_path(image: Image) -> Path:
    """Where the `docker save`-style tarball of the current sources is (or will be)."""
    short = image.name.rsplit("/", 1)[-1]
    return IMAGES_DIR / image_key(image) / f"{short}-{project_version()}.tar"


def build(image: Image) -> Path:
    """Build `image` unless its tarball for the current sources exists; return the tarball."""
    archive = archive_path(image)
    if archive.exists():
        return archive
    ensure_tools()
    base = ensure_base()
    reference = image.reference(project_version())
    started = time.monotonic()
    log(f"building {reference} from {image.dockerfile} on {base}")
    buildah("rm", "--all")  # working containers an interrupted build left in our own storage
    secret = [f"--secret=id=cacert,src={CA_BUNDLE}"] if CA_BUNDLE.exists() else []
    buildah(
        "bud",
        "--isolation",
        "chroot",
        "--format",
        "docker",  # HEALTHCHECK survives only in the docker format
        "--pull-never",
        # No --layers: with vfs every cached step is a full copy of the tree (GBs, minutes to
        # delete); the content key above is the cache instead.
        f"--build-arg=BASE={base}",
        *secret,
        "-f",
        str(ROOT / image.dockerfile),
        "-t",
        reference,
        str(ROOT),
    )
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    buildah("push", "--quiet", reference, f"docker-archive:{partial}:{reference}")
    partial.rename(archive)
    # The tarball is the product: drop the image and the builder stage from buildah's storage.
    buildah("rmi", "--force", reference)
    buildah("rmi", "--prune")
    log(f"{reference}: {time.monotonic() - started:.0f}s, {archive} ({mib(archive)} MiB)")
    prune(image, keep=archive.parent)
    return archive


def prune(image: Image, *, keep: Path, spare: int = 1) -> None:
    """Remove this image's older key folders (tarball and unpacked tree, ~1 GB each), keeping
    `keep` and the `spare` newest others (a concurrent session may still read one)."""
    short = image.name.rsplit("/", 1)[-1]
    folders = [
        tarball.parent
        for tarball in IMAGES_DIR.glob(f"*/{short}-*.tar")
        # gochat-0.1.0.tar, not gochat-operator-0.1.0.tar
        if tarball.name.removeprefix(f"{short}-")[:1].isdigit() and tarball.parent != keep
    ]
    folders.sort(key=lambda folder: folder.stat().st_mtime, reverse=True)
    for folder in folders[spare:]:
        shutil.rmtree(folder, ignore_errors=True)


def mib(path: Path) -> int:
    return round(path.stat().st_size / 2**20)


def ensure_images() -> dict[str, Path]:
    """Every image's tarball for the current sources, building what is missing.

    A file lock makes a second caller (another pytest session, `make images`) wait for the
    first instead of building the same images twice into the same storage."""
    IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    with (IMAGES_DIR / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return {image.name: build(image) for image in IMAGES}


def cli(
    ensure: Callable[[], dict[str, Path]],
    paths: Callable[[], Iterable[Path]],
    *,
    prog: str,
    argv: list[str] | None = None,
) -> int:
    """The ``ensure|paths`` command line of an image builder: ``ensure`` (the default) builds
    what is missing and prints ``<reference> <tarball> <MiB> MiB`` per image; ``paths`` prints
    where each tarball is (or will be). Returns the exit status (2 with the usage otherwise)."""
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "ensure"
    if command == "ensure":
        for reference, archive in ensure().items():
            print(f"{reference} {archive} {mib(archive)} MiB")
        return 0
    if command == "paths":
        for archive in paths():
            print(archive)
        return 0
    print(f"usage: python -m {prog} [ensure|paths]", file=sys.stderr)
    return 2


def _references() -> dict[str, Path]:
    return {f"{name}:{project_version()}": archive for name, archive in ensure_images().items()}


if __name__ == "__main__":
    raise SystemExit(
        cli(
            _references,
            lambda: [archive_path(image) for image in IMAGES],
            prog="tests.images.build",
        )
    )
