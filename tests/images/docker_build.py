"""The image builder where Docker answers (a user's machine, a GitHub runner): ``docker build``.

``${BASE}`` is left to each Dockerfile's default (``python:3.11-slim-bookworm``,
``debian:bookworm-slim``), which that Docker pulls. BuildKit is asked for explicitly: the
Dockerfiles' ``RUN --mount=type=secret`` needs it, and Docker 20.10's client still defaults to
the legacy builder. The tarball (``docker save``) is the product, as with buildah: the tag is
removed afterwards, while Docker's build cache keeps the next build of changed sources fast.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.images import layout, rootfs


class DockerBuildError(RuntimeError):
    """A docker command failed; the message holds the command and the end of its output."""


def answers(cli: str = "docker", env: dict[str, str] | None = None) -> bool:
    """Whether ``docker info`` reaches a daemon (within 30 s)."""
    if shutil.which(cli) is None:
        return False
    try:
        proc = subprocess.run([cli, "info"], capture_output=True, timeout=30, check=False, env=env)
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0


class DockerBuild:
    """``tests.images.builders.Builder`` with ``docker build`` against the Docker ``env``
    names (``DOCKER_HOST``; default: this process's environment)."""

    name = "docker"

    def __init__(self, *, env: dict[str, str] | None = None, cli: str = "docker") -> None:
        self.env = {**(os.environ if env is None else env), "DOCKER_BUILDKIT": "1"}
        self.cli = cli
        self._buildx: bool | None = None

    def base_identity(self) -> bytes:
        # The base is the Dockerfile's own default, and the Dockerfile is in every key already.
        return b"docker build: the Dockerfile's BASE"

    def build(
        self,
        *,
        context: Path,
        reference: str,
        archive: Path,
        dockerfile: Path | None = None,
        on_base: bool = False,  # the Dockerfile's default BASE serves
    ) -> None:
        self._run(
            "build", *self._load(), *layout.ca_secret(),
            *(["--file", str(dockerfile)] if dockerfile else []),
            "--tag", reference, str(context),
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
        image = rootfs.read(source)
        if not image.repo_tags:
            raise DockerBuildError(f"{source} has no tag to build FROM")
        self._run("load", "--quiet", "--input", str(source))
        lines = [f"FROM {image.repo_tags[0]}"]
        lines += [f"ENV {name}={json.dumps(value)}" for name, value in env.items()]
        lines += [f"LABEL {name}={json.dumps(value)}" for name, value in labels.items()]
        if entrypoint:
            # A Dockerfile's ENTRYPOINT clears the inherited CMD; buildah config keeps it.
            lines.append(f"ENTRYPOINT {json.dumps(entrypoint)}")
            if image.config.get("Cmd"):
                lines.append(f"CMD {json.dumps(image.config['Cmd'])}")
        try:
            self._run(
                "build", *self._load(), "--tag", reference, "-", stdin="\n".join(lines) + "\n"
            )
            self._save_and_drop(reference, archive)
        finally:
            self._run("rmi", image.repo_tags[0])  # the source, loaded only to build FROM

    def _load(self) -> list[str]:
        """``--load`` where ``docker build`` is buildx (Docker 23+): a user's selected builder may
        be a ``docker-container`` one, whose result would otherwise never reach the image store
        ``docker save`` reads. Docker 20.10's own BuildKit client has no such flag, nor needs it."""
        if self._buildx is None:
            proc = subprocess.run(
                [self.cli, "buildx", "version"], capture_output=True, env=self.env, check=False
            )
            self._buildx = proc.returncode == 0
        return ["--load"] if self._buildx else []

    def _save_and_drop(self, reference: str, archive: Path) -> None:
        layout.publish(
            archive, lambda partial: self._run("save", "--output", str(partial), reference)
        )
        self._run("rmi", reference)

    def _run(self, *args: str, stdin: str | None = None) -> str:
        proc = subprocess.run(
            [self.cli, *args], input=stdin, capture_output=True, text=True, env=self.env
        )
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
            raise DockerBuildError(f"docker {' '.join(args[:2])} failed:\n{tail}")
        return proc.stdout
