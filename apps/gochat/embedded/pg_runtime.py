"""Where PostgreSQL's own account finds its binaries and its data when we run as root.

PostgreSQL refuses to run as root, so as root it runs as an unprivileged system account, and
that account cannot enter a checkout under a 0700 directory (`/root`, `mktemp -d`) where the
wheel's binaries and `make dev`'s data live. Rather than open up the user's directories:

- the binaries (the wheel's `pginstall` bin/lib/share and the `pgserver.libs` their RPATH
  names) are copied once into `<root>/install/<fingerprint>`, readable by all; a copy is used
  only once its marker file holds the fingerprint it was made from (sizes and paths of every
  file, and a SHA-256 of the `postgres` binary), so a half-finished copy is never run;
- a data directory whose parent the account cannot reach is kept at
  `<root>/data/<digest of its path>` instead (the same place every run, so `make dev` keeps
  its data), owned by the account; one whose data directory is gone is deleted at the next
  start.

`<root>` (by default /var/tmp/gochat-postgres, which survives a reboot) must be owned by root
and writable by nobody else: /var/tmp is open to all, and a directory someone else made there
could hand root the binaries of their choosing.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import signal
import stat
import tempfile
from pathlib import Path

from gochat.embedded import process

RUNTIME_ROOT = Path("/var/tmp/gochat-postgres")
MARKER = ".gochat-copy-complete"
ORIGIN = "origin"  # in a data home: the data directory it stands in for
_COPIED = ("pginstall/bin", "pginstall/lib", "pginstall/share")


def can_traverse(path: Path, account: pwd.struct_passwd) -> bool:
    """Whether `account` (with only its primary group) may enter `path` and its ancestors."""
    for folder in [path, *path.parents]:
        info = folder.stat()
        if info.st_uid == account.pw_uid:
            bit = stat.S_IXUSR
        elif info.st_gid == account.pw_gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            return False
    return True


def reachable_install(
    pginstall: Path, account: pwd.struct_passwd, *, root: Path = RUNTIME_ROOT
) -> Path:
    """A `pginstall` directory whose binaries `account` can run: the wheel's own when the
    account can reach it, otherwise the verified copy under `root` (made when missing)."""
    if can_traverse(pginstall / "bin", account):
        return pginstall
    wheel = pginstall.parent
    sources = [wheel / part for part in _COPIED] + [wheel.with_name(f"{wheel.name}.libs")]
    fingerprint = _fingerprint(sources, base=wheel.parent, binary=pginstall / "bin" / "postgres")
    target = _root_owned_dir(_root_owned_dir(root) / "install") / fingerprint[:24]
    copied = target / wheel.name / "pginstall"
    if not can_traverse(target.parent, account):
        raise process.ServerStartError(
            f"the {account.pw_name} account cannot enter {root}: "
            "choose a runtime directory every user can enter"
        )
    if _marker_matches(target, fingerprint):
        return copied
    staging = Path(tempfile.mkdtemp(prefix=".copying-", dir=target.parent))
    try:
        for source in sources:
            if source.exists():
                shutil.copytree(source, staging / source.relative_to(wheel.parent), symlinks=True)
        (staging / MARKER).write_text(fingerprint)
        staging.chmod(0o755)
        shutil.rmtree(target, ignore_errors=True)  # a copy whose marker does not match
        try:
            staging.rename(target)
        except OSError:
            if not _marker_matches(target, fingerprint):  # another start did not win either
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return copied


def reachable_data_dir(
    data_dir: Path, account: pwd.struct_passwd, *, root: Path = RUNTIME_ROOT
) -> Path:
    """Where the server keeps the cluster of `data_dir`: `data_dir` itself (the caller hands it
    to the account) when the account can reach its parent, otherwise a directory of the
    account's own under `root`, named after the path."""
    if can_traverse(data_dir.parent, account):
        return data_dir
    origin = str(data_dir.resolve())
    homes = _root_owned_dir(_root_owned_dir(root) / "data")
    remove_orphans(homes)
    home = homes / hashlib.sha256(origin.encode()).hexdigest()[:16]
    home.mkdir(mode=0o700, exist_ok=True)
    (home / ORIGIN).write_text(origin)
    os.chown(home, account.pw_uid, account.pw_gid)
    return home


def remove_orphans(homes: Path) -> None:
    """Delete the clusters whose data directory is gone (a test's temporary directory, a
    removed checkout), stopping a server still running on one: nothing could reach it again."""
    for home in homes.iterdir():
        try:
            origin = Path((home / ORIGIN).read_text())
        except (FileNotFoundError, NotADirectoryError):
            continue  # being made right now, or not ours
        if origin.exists():
            continue
        process.stop_leftover_server(
            home / "pgdata" / "postmaster.pid",
            command_name="postgres",
            stop_signal=signal.SIGINT,
            timeout=30,
        )
        shutil.rmtree(home, ignore_errors=True)


def _root_owned_dir(path: Path) -> Path:
    """`path`, made 0755 when missing; refused unless root owns it and nobody else can write."""
    try:
        path.mkdir(mode=0o755)
        path.chmod(0o755)  # whatever the umask
    except FileExistsError:
        pass
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise process.ServerStartError(
            f"{path} must be a directory owned by root that nobody else can write to; "
            "remove it and start again"
        )
    return path


def _marker_matches(target: Path, fingerprint: str) -> bool:
    try:
        return (target / MARKER).read_text() == fingerprint
    except (FileNotFoundError, NotADirectoryError):
        return False


def _fingerprint(sources: list[Path], *, base: Path, binary: Path) -> str:
    digest = hashlib.sha256(hashlib.sha256(binary.read_bytes()).digest())
    for source in sources:
        for path in sorted(source.rglob("*")):
            if path.is_file() or path.is_symlink():
                size = path.lstat().st_size
                digest.update(f"{path.relative_to(base)}\0{size}\n".encode())
    return digest.hexdigest()
