"""Row-to-schema conversions and the partial-update builder shared by the directory modules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from gochat.core import schemas

USER_FIELDS = ("id", "username", "display_name", "bio", "avatar_url", "created_at")
USER_COLUMNS = ", ".join(f"u.{field}" for field in USER_FIELDS)


class Queries:
    conn: asyncpg.Connection


def set_clause(
    allowed: Sequence[str], changes: Mapping[str, Any], *, first_param: int = 2
) -> tuple[str, list[Any]]:
    """`"a = $2, b = $3"` and its values for the `allowed` columns present in `changes`.

    Column names come only from `allowed` (a constant of the calling module), never from the
    request, so interpolating them is safe; values always travel as parameters. `$1` is left for
    the row's id. An empty clause means nothing to change: callers must not run the UPDATE.
    """
    names = [name for name in allowed if name in changes]
    clause = ", ".join(f"{name} = ${first_param + i}" for i, name in enumerate(names))
    return clause, [changes[name] for name in names]


def user_from(row: asyncpg.Record | dict[str, Any], prefix: str = "") -> schemas.User:
    return schemas.User(
        id=row[f"{prefix}id"],
        username=row[f"{prefix}username"],
        display_name=row[f"{prefix}display_name"],
        bio=row[f"{prefix}bio"],
        avatar_url=row[f"{prefix}avatar_url"],
        created_at=row[f"{prefix}created_at"],
    )
