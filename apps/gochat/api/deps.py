"""FastAPI dependencies: the application context and the caller's identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from gochat.api.context import ApiContext
from gochat.core import errors
from gochat.core.tokens import AccessClaims


async def get_context(request: Request) -> ApiContext:
    return context_of(request)


def context_of(request: Request) -> ApiContext:
    """The context without a dependency: for the busiest endpoints, since FastAPI spends
    ~10 µs per request solving each dependency (bench/api/FINDINGS.md)."""
    ctx: ApiContext = request.app.state.ctx
    return ctx


class BearerCaller(HTTPBearer):
    """The caller's verified access token. It is the bearer security scheme itself (OpenAPI
    documents it as `HTTPBearer`, as before) rather than a dependency on one: FastAPI solves
    every dependency with its own bookkeeping, ~10 µs each per request (bench/api/FINDINGS.md)."""

    def __init__(self) -> None:
        super().__init__(
            scheme_name="HTTPBearer",
            auto_error=False,
            description="Access token from the auth service",
        )

    async def __call__(self, request: Request) -> AccessClaims:  # type: ignore[override]
        credentials = await super().__call__(request)
        if credentials is None:  # no Authorization header, or another scheme than Bearer
            raise errors.Unauthorized("missing bearer token")
        return await context_of(request).verifier.verify(credentials.credentials)


get_caller = BearerCaller()

Context = Annotated[ApiContext, Depends(get_context)]
Caller = Annotated[AccessClaims, Depends(get_caller)]
