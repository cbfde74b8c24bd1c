"""Registration and e-mail confirmation. Mails are queued with the change and delivered after
the answer (BackgroundTasks): a slow mail relay neither delays the client nor tells it whether a
mail was due, and a relay that is down leaves the mail queued for the background sender."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, status

from gochat.auth import failures, models, registration
from gochat.auth.routers.dependencies import ClientIp, Context
from gochat.core import http, schemas

router = APIRouter(prefix="/auth", tags=["accounts"], route_class=http.StrictQueryRoute)


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    summary="Create an account; a confirmation mail is sent",
    responses=failures.documented(failures.UsernameTaken, failures.EmailTaken),
)
async def register(
    body: models.RegisterRequest, ctx: Context, ip: ClientIp, background: BackgroundTasks
) -> schemas.User:
    user = await registration.register(
        ctx, username=body.username, email=body.email, password=body.password, client_ip=ip
    )
    background.add_task(ctx.deliver_queued_mail)
    return user


@router.post(
    "/confirm-email",
    summary="Confirm the e-mail address with the mailed token",
    responses=failures.documented(failures.InvalidMailToken, failures.MailTokenExpired),
)
async def confirm_email(body: models.TokenRequest, ctx: Context) -> schemas.User:
    return await registration.confirm_email(ctx, token=body.token)


@router.post(
    "/resend-confirmation",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Mail a new confirmation token (same answer whether or not the address exists)",
)
async def resend_confirmation(
    body: models.EmailRequest, ctx: Context, ip: ClientIp, background: BackgroundTasks
) -> models.Accepted:
    await registration.resend_confirmation(ctx, email=body.email, client_ip=ip)
    background.add_task(ctx.deliver_queued_mail)
    return models.Accepted()
