"""Which container engine a kind run uses, chosen from what the machine offers.

- ``docker info`` answers (a user's machine, a GitHub runner): that Docker, kind's own
  ``kindest/node`` image and kindnet; every image the tier loads comes from ``docker build``
  (``tests.images.builders``).
- no engine, but root on Linux with Debian's dockerd and friends (these machines, CI here): the
  private dockerd in its own network namespace, the node image built locally, images built with
  buildah and ``kind load``-ed.
- otherwise: skip, with a reason naming what is missing.

``choose`` is a pure function of ``Probes`` so each branch is unit-tested; ``probe`` gathers them.
``GOCHAT_KIND_ENGINE`` (``docker`` or ``private``) forces one path.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from tests.fixtures import debian
from tests.images import docker_build

from . import dockerd

FORCE_VARIABLE = "GOCHAT_KIND_ENGINE"
# What the private path runs: dockerd and its namespaces, the node image and GoChat image builds.
PRIVATE_PROGRAMS = (
    "dockerd",
    "containerd",
    "runc",
    "unshare",
    "nsenter",
    "ip",
    "iptables",
    "zstd",
    "debootstrap",
    "buildah",
)
PRIVATE_PACKAGES = (
    "docker.io containerd runc buildah debootstrap containernetworking-plugins iptables"
    " conntrack zstd iproute2"
)


class Engine(enum.Enum):
    USER_DOCKER = "docker"
    PRIVATE_DOCKERD = "private"


@dataclasses.dataclass(frozen=True)
class Probes:
    docker_info: bool
    root: bool
    linux: bool
    missing_programs: tuple[str, ...]
    forced: str | None = None


@dataclasses.dataclass(frozen=True)
class Choice:
    """An engine to use, or (``engine`` None) the reason there is none."""

    engine: Engine | None
    reason: str


def choose(probes: Probes) -> Choice:
    """The engine for a run; raises ``ValueError`` for a ``GOCHAT_KIND_ENGINE`` it does not know."""
    if probes.forced not in (None, "", *(engine.value for engine in Engine)):
        allowed = " or ".join(engine.value for engine in Engine)
        raise ValueError(f"{FORCE_VARIABLE}={probes.forced!r}: expected {allowed} (or unset)")
    if probes.forced != Engine.PRIVATE_DOCKERD.value and probes.docker_info:
        if not probes.linux:
            # nats-server, MinIO and the metrics binaries are copied into the images from this
            # machine's builds: elsewhere they would not run in a Linux node.
            return Choice(
                None,
                "`docker info` answers, but the images carry binaries built on this machine,"
                " which must be Linux ones: run the tier on Linux",
            )
        return Choice(Engine.USER_DOCKER, "`docker info` answers: using that Docker")
    if probes.forced == Engine.USER_DOCKER.value:
        return Choice(None, f"{FORCE_VARIABLE}=docker, but `docker info` fails")
    no_engine = "no container engine (`docker info` fails)"
    if not probes.linux:
        return Choice(None, f"{no_engine}, and the private dockerd path needs Linux")
    if not probes.root:
        return Choice(
            None, f"{no_engine}, and the private dockerd path needs root (netns, mounts, cgroups)"
        )
    if probes.missing_programs:
        missing = ", ".join(probes.missing_programs)
        return Choice(
            None,
            f"{no_engine}, and the private dockerd path lacks {missing}"
            f" (apt-get install {PRIVATE_PACKAGES})",
        )
    return Choice(Engine.PRIVATE_DOCKERD, "no Docker here: a private dockerd, run as root")


def wants_packages(probes: Probes) -> bool:
    """Whether the private path is the one to take and only Debian packages stand in its way:
    then the harness installs them, as `make test` installs everything else it needs."""
    return (
        probes.forced != Engine.USER_DOCKER.value
        and (probes.forced == Engine.PRIVATE_DOCKERD.value or not probes.docker_info)
        and probes.linux
        and probes.root
        and bool(probes.missing_programs)
        and shutil.which("apt-get") is not None
    )


def install_packages(log: Callable[[str], None]) -> None:
    """``apt-get install`` the private path's packages (no service started on install)."""
    debian.install(PRIVATE_PACKAGES.split(), log=log)


def probe_and_provision(
    log: Callable[[str], None],
    *,
    take: Callable[[], Probes] | None = None,
    install: Callable[[Callable[[str], None]], None] = install_packages,
) -> Probes:
    """``probe()``, after installing the private path's packages when that is all it lacks."""
    take = take or probe
    probes = take()
    if wants_packages(probes):
        install(log)
        probes = take()
    return probes


def probe() -> Probes:
    return Probes(
        docker_info=docker_build.answers(),
        root=hasattr(os, "geteuid") and os.geteuid() == 0,
        linux=sys.platform.startswith("linux"),
        missing_programs=tuple(
            program
            for program in PRIVATE_PROGRAMS
            if shutil.which(program, path=f"/usr/sbin:/usr/bin:/sbin:/bin:{_path()}") is None
        ),
        forced=os.environ.get(FORCE_VARIABLE) or None,
    )


class Docker(Protocol):
    """What the cluster harness needs from a Docker daemon, private or the user's."""

    @property
    def env(self) -> dict[str, str]: ...

    def netns_command(self, command: list[str]) -> list[str]: ...

    def docker(
        self, args: list[str], *, check: bool = True, stdin: int | None = None
    ) -> subprocess.CompletedProcess[str]: ...


class UserDocker:
    """The Docker the user's environment points at (``DOCKER_HOST`` or the default socket).

    Published ports are on the host itself, so commands need no namespace."""

    def __init__(self, *, work_dir: Path) -> None:
        self.work_dir = work_dir

    @property
    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def netns_command(self, command: list[str]) -> list[str]:
        return command

    def docker(
        self, args: list[str], *, check: bool = True, stdin: int | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["docker", *args], stdin=stdin, capture_output=True, text=True, check=False
        )
        if check and proc.returncode != 0:
            raise dockerd.DockerdError(f"docker {' '.join(args[:3])} failed: {proc.stderr}")
        return proc


def _path() -> str:
    return os.environ.get("PATH", "")
