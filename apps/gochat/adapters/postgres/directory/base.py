"""Row-to-schema conversions shared by the directory query modules."""

from __future__ import annotations

from typing import Any

import asyncpg

from gochat.core import schemas

USER_COLUMNS = "u.id, u.username, u.display_name, u.bio, u.avatar_url, u.created_at"


class Queries:
    conn: asyncpg.Connection


def user_from(row: asyncpg.Record | dict[str, Any], prefix: str = "") -> schemas.User:
    return schemas.User(
        id=row[f"{prefix}id"],
        username=row[f"{prefix}username"],
        display_name=row[f"{prefix}display_name"],
        bio=row[f"{prefix}bio"],
        avatar_url=row[f"{prefix}avatar_url"],
        created_at=row[f"{prefix}created_at"],
    )
