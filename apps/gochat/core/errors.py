"""Errors a caller can act on, each mapped once to the HTTP envelope
`{"error": {"code", "message", "details"}}`.

Services raise these; the HTTP layer (core.http) turns them into responses. Nothing else
reaches a client: unexpected exceptions become a bare 500 `internal_error`.
"""

from __future__ import annotations

from typing import Any


class GoChatError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: Any = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}


class BadRequest(GoChatError):
    status, code = 400, "bad_request"


class ValidationFailed(GoChatError):
    """A field is missing, malformed or out of range; details name the field."""

    status, code = 422, "validation_error"

    @classmethod
    def for_field(cls, field: str, reason: str) -> ValidationFailed:
        return cls(f"{field}: {reason}", details=[{"field": field, "reason": reason}])


class Unauthorized(GoChatError):
    status, code = 401, "unauthorized"

    def __init__(self, message: str = "authentication required", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kw)


class Forbidden(GoChatError):
    status, code = 403, "forbidden"


class MissingPermission(Forbidden):
    code = "missing_permission"

    def __init__(self, permission: str) -> None:
        super().__init__(f"missing permission {permission}", details={"permission": permission})


class NotFound(GoChatError):
    status, code = 404, "not_found"


class Conflict(GoChatError):
    status, code = 409, "conflict"


class Gone(GoChatError):
    status, code = 410, "gone"


class PayloadTooLarge(GoChatError):
    status, code = 413, "payload_too_large"


class RateLimited(GoChatError):
    status, code = 429, "rate_limited"

    def __init__(self, retry_after: float, scope: str) -> None:
        seconds = max(1, int(retry_after + 0.999))
        super().__init__(
            f"too many requests; retry after {seconds}s",
            details={"retry_after": seconds, "scope": scope},
            headers={"Retry-After": str(seconds)},
        )


class Unavailable(GoChatError):
    status, code = 503, "unavailable"
