"""A second tag of the services image for the upgrade scenario: the same build, plus a marker
(an env variable and a label), so a rollout to it is a real image change.

Made with buildah from the cached tarball (``buildah from docker-archive:``, ``config``,
``commit``, ``push``) and cached next to it, keyed by the source tarball and the marker.
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

from tests.images import build


def ensure(
    source: Path, *, tag: str, marker: str, entrypoint: list[str] | None = None
) -> tuple[str, Path]:
    """(reference, tarball) of ``docker.io/gochat/gochat:<tag>``, built once per source.
    ``entrypoint`` replaces the image's (``["/bin/false"]``: a version whose every command,
    the migration included, fails)."""
    reference = f"{build.SERVICES.name}:{tag}"
    archive = source.parent / f"gochat-{tag}.tar"
    if archive.exists():
        return reference, archive
    with (build.IMAGES_DIR / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if archive.exists():
            return reference, archive
        container = build.buildah("from", f"docker-archive:{source}", capture=True).strip()
        try:
            build.buildah(
                "config", "--env", f"GOCHAT_E2E_MARKER={marker}",
                "--label", f"dev.gochat.e2e-marker={marker}",
                *(["--entrypoint", json.dumps(entrypoint)] if entrypoint else []), container,
            )  # fmt: skip
            build.buildah("commit", "--format", "docker", "--quiet", container, reference)
        finally:
            build.buildah("rm", container)
        partial = archive.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        build.buildah("push", "--quiet", reference, f"docker-archive:{partial}:{reference}")
        partial.rename(archive)
        build.buildah("rmi", "--force", reference)
        build.buildah("rmi", "--prune")
    return reference, archive
