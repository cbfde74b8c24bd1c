"""Password reset by mail and password change."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Response, status

from gochat.auth import failures, models, recovery
from gochat.auth.routers.dependencies import AccessClaims, ClientIp, Context
from gochat.core import http

router = APIRouter(prefix="/auth", tags=["passwords"], route_class=http.StrictQueryRoute)


@router.post(
    "/password-reset/request",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Mail a reset token (same answer whether or not the address exists)",
)
async def request_reset(
    body: models.EmailRequest, ctx: Context, ip: ClientIp, background: BackgroundTasks
) -> models.Accepted:
    await recovery.request_reset(ctx, email=body.email, client_ip=ip)
    # Delivered after answering, whether or not a mail was queued: the timing reveals nothing.
    background.add_task(ctx.deliver_queued_mail)
    return models.Accepted()


@router.post(
    "/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Set a new password with the mailed token; every session of the account ends",
    responses=failures.documented(failures.InvalidMailToken, failures.MailTokenExpired),
)
async def confirm_reset(body: models.PasswordResetConfirmRequest, ctx: Context) -> None:
    await recovery.confirm_reset(ctx, token=body.token, new_password=body.new_password)


@router.post(
    "/password/change",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Change the password (Bearer access token); other sessions end",
    responses=failures.documented(failures.WrongPassword),
)
async def change_password(
    body: models.PasswordChangeRequest, ctx: Context, claims: AccessClaims
) -> None:
    await recovery.change_password(
        ctx,
        claims=claims,
        current_password=body.current_password,
        new_password=body.new_password,
    )
