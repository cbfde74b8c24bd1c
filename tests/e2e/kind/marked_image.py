"""A second tag of the services image for the upgrade scenario: the same build, plus a marker
(an env variable and a label), so a rollout to it is a real image change.

Derived from the cached tarball by the machine's image builder (``tests.images.builders``) and
cached next to it, keyed by the source tarball and the marker.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

from tests.images import build, builders


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
        builders.current().derive(
            source,
            reference=reference,
            archive=archive,
            env={"GOCHAT_E2E_MARKER": marker},
            labels={"dev.gochat.e2e-marker": marker},
            entrypoint=entrypoint,
        )
    return reference, archive
