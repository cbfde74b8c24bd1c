"""The failures of the auth service a client can act on, each with its own error code."""

from __future__ import annotations

from typing import Any

from gochat.core import errors


class UsernameTaken(errors.Conflict):
    """Another account has this username (ignoring case)."""

    code = "username_taken"

    def __init__(self) -> None:
        super().__init__(
            "username: already taken", details=[{"field": "username", "reason": "already taken"}]
        )


class EmailTaken(errors.Conflict):
    """Another account has this e-mail address (ignoring case)."""

    code = "email_taken"

    def __init__(self) -> None:
        super().__init__(
            "email: already registered",
            details=[{"field": "email", "reason": "already registered"}],
        )


class InvalidCredentials(errors.Unauthorized):
    """Unknown login or wrong password: deliberately the same answer for both."""

    code = "invalid_credentials"

    def __init__(self) -> None:
        super().__init__("invalid login or password")


class EmailNotConfirmed(errors.Forbidden):
    """Right password, but the address is unconfirmed: the client offers to resend the mail."""

    code = "email_not_confirmed"

    def __init__(self) -> None:
        super().__init__("confirm your e-mail address before logging in")


class InvalidMailToken(errors.BadRequest):
    """Unknown or already used confirmation/reset token."""

    code = "invalid_token"

    def __init__(self) -> None:
        super().__init__(
            "token: unknown or already used",
            details=[{"field": "token", "reason": "unknown or already used"}],
        )


class MailTokenExpired(errors.Gone):
    """The token was valid but its time is up: ask for a new mail."""

    code = "token_expired"

    def __init__(self) -> None:
        super().__init__(
            "token: expired; request a new one", details=[{"field": "token", "reason": "expired"}]
        )


class InvalidRefreshToken(errors.Unauthorized):
    """Unknown, expired or revoked refresh token: log in again."""

    code = "invalid_refresh_token"

    def __init__(self, reason: str) -> None:
        super().__init__(f"refresh token {reason}", details={"reason": reason})


class RefreshTokenReused(errors.Unauthorized):
    """An already-rotated token came back: the session is treated as stolen and revoked."""

    code = "refresh_token_reused"

    def __init__(self) -> None:
        super().__init__("refresh token already used; the session has been revoked")


class WrongPassword(errors.Forbidden):
    """`current_password` of a password change does not match."""

    code = "wrong_password"

    def __init__(self) -> None:
        super().__init__(
            "current_password: does not match",
            details=[{"field": "current_password", "reason": "does not match"}],
        )


def documented(*failures: type[errors.GoChatError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` naming the error codes a route can answer with, grouped by status."""
    by_status: dict[int, list[type[errors.GoChatError]]] = {}
    for failure in failures:
        by_status.setdefault(failure.status, []).append(failure)
    responses: dict[int | str, dict[str, Any]] = {}
    for status, group in sorted(by_status.items()):
        examples = {
            failure.code: {
                "summary": (failure.__doc__ or failure.code).strip().splitlines()[0],
                "value": {"error": {"code": failure.code, "message": "…", "details": None}},
            }
            for failure in group
        }
        responses[status] = {
            "description": " or ".join(f"`{failure.code}`" for failure in group),
            "content": {"application/json": {"examples": examples}},
        }
    return responses
