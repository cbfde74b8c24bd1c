"""What the handlers get injected: the service context, the client IP, the bearer claims."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gochat.auth import bearer
from gochat.auth.context import AuthContext
from gochat.core import errors, tokens

_bearer_scheme = HTTPBearer(auto_error=False, description="An access token from /auth/login.")


def get_context(request: Request) -> AuthContext:
    context: AuthContext = request.app.state.auth
    return context


Context = Annotated[AuthContext, Depends(get_context)]


def client_ip(request: Request, ctx: Context) -> str:
    peer = request.client.host if request.client else "unknown"
    return client_address(
        peer=peer,
        forwarded_for=request.headers.get("x-forwarded-for"),
        trusted_hops=ctx.config.trusted_proxy_hops,
    )


def client_address(*, peer: str, forwarded_for: str | None, trusted_hops: int) -> str:
    """The socket peer, or the address the outermost trusted proxy saw: with N trusted hops the
    client is the N-th entry from the right of X-Forwarded-For (entries further left are
    whatever the client chose to send, so they are never believed)."""
    if trusted_hops == 0 or not forwarded_for:
        return peer
    chain = [part.strip() for part in forwarded_for.split(",") if part.strip()]
    if not chain:
        return peer
    return chain[-trusted_hops] if len(chain) >= trusted_hops else chain[0]


ClientIp = Annotated[str, Depends(client_ip)]


async def access_claims(
    ctx: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)],
) -> tokens.AccessClaims:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise errors.Unauthorized("send Authorization: Bearer <access token>")
    return await bearer.authenticate(ctx, access_token=credentials.credentials)


AccessClaims = Annotated[tokens.AccessClaims, Depends(access_claims)]
