"""skaffold's custom build step (profile ``kind-buildah`` of ``skaffold.yaml``): buildah instead
of ``docker build``, for machines where ``docker build`` cannot reach a registry.

skaffold runs it once per artifact with ``IMAGE`` (the tag it wants). The image comes from the
project's buildah builders, cached by content (``tests/images/build.py`` for GoChat,
``tests/e2e/kind/backend_images.py`` for the backends), is ``docker load``-ed into the Docker
``DOCKER_HOST`` names (the one kind runs on) and tagged ``IMAGE``; skaffold then ``kind load``s
it into the nodes itself.

``GOCHAT_BUILD_NETNS=<path>``: build in that network namespace. The harness runs skaffold inside
the private dockerd's namespace (where the API server is), which has no egress; buildah needs the
package registries, so the build goes back to the host's namespace. The Docker socket is a unix
socket, reachable from both.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

from tests.e2e.kind import backend_images
from tests.images import build as images
from tests.images import builders

NETNS_VARIABLE = "GOCHAT_BUILD_NETNS"


class SkaffoldBuildError(RuntimeError):
    """The artifact cannot be built here; the message says which and why."""


def gochat() -> Path:
    images.IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    # The lock tests.images.build.ensure_images takes: one buildah storage, one build at a time.
    with (images.IMAGES_DIR / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return images.build(images.SERVICES)


def backend(name: str) -> Callable[[], Path]:
    def build() -> Path:
        archives = backend_images.ensure_images()
        for reference, archive in archives.items():
            if reference.rsplit(":", 1)[0] == name:
                return archive
        raise SkaffoldBuildError(f"no backend image named {name} in {sorted(archives)}")

    return build


BUILDERS: dict[str, Callable[[], Path]] = {
    images.SERVICES.name: gochat,
    "docker.io/gochat/backend-postgres": backend("docker.io/gochat/backend-postgres"),
    "docker.io/gochat/backend-nats": backend("docker.io/gochat/backend-nats"),
}


def repository(image: str) -> str:
    """``docker.io/gochat/gochat:abc-dirty`` -> ``docker.io/gochat/gochat`` (a registry port's
    colon is not a tag's)."""
    name, _, tag = image.rpartition(":")
    return name if name and "/" not in tag else image


def builder_for(image: str) -> Callable[[], Path]:
    """The builder of ``image``; a clear error for an image this step does not know."""
    found = BUILDERS.get(repository(image))
    if found is None:
        known = ", ".join(sorted(BUILDERS))
        raise SkaffoldBuildError(f"IMAGE={image!r}: no buildah builder for it (known: {known})")
    return found


def loaded_reference(archive: Path) -> str:
    """The reference a ``docker save``-style tarball loads as (from its manifest.json)."""
    with tarfile.open(archive) as tar:
        member = tar.extractfile("manifest.json")
        if member is None:
            raise SkaffoldBuildError(f"{archive} has no manifest.json")
        tags = json.load(member)[0].get("RepoTags") or []
    if not tags:
        raise SkaffoldBuildError(f"{archive} has no tag in its manifest.json")
    return str(tags[0])


def main(environ: dict[str, str]) -> int:
    image = environ.get("IMAGE", "")
    if not image:
        raise SkaffoldBuildError("IMAGE is not set: this runs as skaffold's custom build step")
    if environ.get("PUSH_IMAGE") == "true":
        raise SkaffoldBuildError(
            f"skaffold wants {image} pushed; there is no registry here: build.local.push false"
        )
    build = builder_for(image)
    netns = environ.get(NETNS_VARIABLE)
    if netns:
        # Back in the host's namespace, without the variable: the build itself runs there.
        env = {key: value for key, value in environ.items() if key != NETNS_VARIABLE}
        command = [sys.executable, "-m", "tests.e2e.kind.skaffold_build"]
        return subprocess.run(["nsenter", f"--net={netns}", *command], env=env).returncode
    # The profile's point: buildah's images. DOCKER_HOST names the Docker kind runs on here, so
    # `docker info` answers and the builder port would pick `docker build` on it, whose network
    # namespace (the private dockerd's) reaches no registry.
    os.environ[builders.VARIABLE] = "buildah"
    builders.current.cache_clear()
    archive = build()
    docker = ["docker"]
    subprocess.run([*docker, "load", "-q", "-i", str(archive)], check=True)
    subprocess.run([*docker, "tag", loaded_reference(archive), image], check=True)
    print(f"{image}: loaded from {archive}", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(dict(os.environ)))
    except SkaffoldBuildError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
