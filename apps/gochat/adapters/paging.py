"""Validation of history and reaction-user paging, the same for every MessageStore adapter."""

from __future__ import annotations

from gochat.core import errors

MAX_PAGE = 100


def check_page(*, limit: int, anchors: dict[str, int | None]) -> None:
    """Raise ValidationFailed naming the field: a limit outside 1..MAX_PAGE, a second anchor
    (the second one given is named), or a negative anchor."""
    if not 1 <= limit <= MAX_PAGE:
        raise errors.ValidationFailed.for_field("limit", f"must be within 1..{MAX_PAGE}")
    given = [name for name, value in anchors.items() if value is not None]
    if len(given) > 1:
        raise errors.ValidationFailed.for_field(given[1], "use only one of before/after/around")
    for name, value in anchors.items():
        if value is not None and value < 0:
            raise errors.ValidationFailed.for_field(name, "must be a message id")
