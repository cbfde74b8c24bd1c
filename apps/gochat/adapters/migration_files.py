"""Append-only migration files, `NNNN_name.<extension>`, read the same way for every database.

The SQL runner (`adapters.postgres.migrations`) and the CQL runner (`adapters.cassandra.migrations`)
differ in how they lock and apply; finding, naming, numbering and checksumming the files is shared.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path


class MigrationError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    text: str

    @property
    def checksum(self) -> str:
        """Recorded when applied: a file edited afterwards is refused (append-only)."""
        return hashlib.sha256(self.text.encode()).hexdigest()


def find_directory(relative: str, *, env_var: str) -> Path:
    """`relative` (e.g. `db/pgmigrations`) of a checkout, or the copy installed beside the
    package in an image; `env_var` names the override the caller reads."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / relative
        if candidate.is_dir():
            return candidate
    raise MigrationError(f"cannot find {relative}; set {env_var}")


def load(directory: Path, *, extension: str) -> list[Migration]:
    """Every `NNNN_name.<extension>` in `directory`, by version; any other name is an error."""
    pattern = re.compile(rf"^(\d{{4}})_([a-z0-9_]+)\.{re.escape(extension)}$")
    migrations = []
    for path in sorted(directory.glob(f"*.{extension}")):
        match = pattern.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: expected NNNN_name.{extension}")
        migrations.append(Migration(int(match[1]), match[2], path.read_text()))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two .{extension} migrations in {directory} share a version number")
    return migrations
