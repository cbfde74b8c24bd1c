"""FastAPI dependencies: the application context and the caller's identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gochat.api.context import ApiContext
from gochat.core import errors
from gochat.core.tokens import AccessClaims

_bearer = HTTPBearer(auto_error=False, description="Access token from the auth service")


async def get_context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


async def get_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AccessClaims:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise errors.Unauthorized("missing bearer token")
    ctx: ApiContext = request.app.state.ctx
    return await ctx.verifier.verify(credentials.credentials)


Context = Annotated[ApiContext, Depends(get_context)]
Caller = Annotated[AccessClaims, Depends(get_caller)]
