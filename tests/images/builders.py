"""The image builder port: how a Dockerfile becomes a `docker save`-style tarball.

Two adapters, picked by ``current()``:

- ``docker`` (``tests.images.docker_build``) where ``docker info`` answers: ``docker build`` on
  the Dockerfiles' own bases, as a user with Docker would build them;
- ``buildah`` (``tests.images.buildah``) otherwise: root, a local debootstrap base, no registry
  (these machines, CI here).

``GOCHAT_IMAGE_BUILDER`` (``docker`` or ``buildah``) forces one. The image modules
(``tests.images.build``, ``tests.e2e.kind.backend_images`` and ``metrics_images``) only ever call
this port. Images on ``${BASE}`` put the builder's ``base_identity`` in their content keys, so
a tarball built on one builder's base is never taken for the other's (images on ``scratch``
come out the same from both).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from tests.images import buildah, docker_build

VARIABLE = "GOCHAT_IMAGE_BUILDER"
NAMES = ("docker", "buildah")


class Builder(Protocol):
    name: str

    def base_identity(self) -> bytes:
        """What ``${BASE}`` is for this builder, for the content keys of images built on it."""
        ...

    def build(
        self,
        *,
        context: Path,
        reference: str,
        archive: Path,
        dockerfile: Path | None = None,
        on_base: bool = False,
    ) -> None:
        """Build ``context`` (with ``dockerfile``, default its own) as ``reference`` and write
        the tarball to ``archive`` atomically. ``on_base``: the Dockerfile builds on ``${BASE}``."""
        ...

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
        """The image of tarball ``source`` with ``env`` and ``labels`` added (and ``entrypoint``
        replaced), as ``reference``, written to ``archive``."""
        ...


def choose(forced: str | None, docker_answers: Callable[[], bool]) -> str:
    """The builder's name; ``ValueError`` naming the variable for a value it does not know."""
    if forced:
        if forced not in NAMES:
            raise ValueError(f"{VARIABLE}={forced!r}: expected {' or '.join(NAMES)} (or unset)")
        return forced
    return "docker" if docker_answers() else "buildah"


@functools.cache
def current() -> Builder:
    name = choose(os.environ.get(VARIABLE), docker_build.answers)
    return docker_build.DockerBuild() if name == "docker" else buildah.Buildah()
