"""Login, refresh-token rotation, logout."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from gochat.auth import failures, models, sessions
from gochat.auth.routers.dependencies import ClientIp, Context
from gochat.core import http

router = APIRouter(prefix="/auth", tags=["sessions"], route_class=http.StrictQueryRoute)


def _pair(issued: sessions.IssuedTokens) -> models.TokenPair:
    return models.TokenPair(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        refresh_token=issued.refresh_token,
        user=issued.user,
    )


@router.post(
    "/login",
    summary="Tokens for a confirmed account (username or e-mail, and password)",
    responses=failures.documented(failures.InvalidCredentials, failures.EmailNotConfirmed),
)
async def login(body: models.LoginRequest, ctx: Context, ip: ClientIp) -> models.TokenPair:
    return _pair(await sessions.login(ctx, login=body.login, password=body.password, client_ip=ip))


@router.post(
    "/refresh",
    summary="Spend a refresh token for a new pair; a reused token revokes its session",
    responses=failures.documented(failures.InvalidRefreshToken, failures.RefreshTokenReused),
)
async def refresh(body: models.RefreshRequest, ctx: Context) -> models.TokenPair:
    return _pair(await sessions.refresh(ctx, refresh_token=body.refresh_token))


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="End the refresh token's session",
    responses=failures.documented(failures.InvalidRefreshToken),
)
async def logout(body: models.RefreshRequest, ctx: Context) -> None:
    await sessions.logout(ctx, refresh_token=body.refresh_token)
