"""The caller's notification settings: whether unread mentions and direct messages are mailed
(services/notifications.py)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from gochat.api import models
from gochat.api.deps import Caller, Context
from gochat.api.services import notifications
from gochat.core import http

router = APIRouter(tags=["users"], route_class=http.StrictQueryRoute)


class NotificationSettings(BaseModel):
    email_notifications: bool = Field(
        description="Mail me about mentions and direct messages I have not read after a "
        "while (one mail summarising them). On unless turned off."
    )


class NotificationSettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    email_notifications: models.NotNull[bool] = Field(
        None, description="true or false; left out: unchanged."
    )


@router.get(
    "/users/@me/notification-settings",
    response_model=NotificationSettings,
    summary="The caller's notification settings",
)
async def get_settings(ctx: Context, caller: Caller) -> NotificationSettings:
    enabled = await notifications.get_settings(ctx, user_id=caller.user_id)
    return NotificationSettings(email_notifications=enabled)


@router.patch(
    "/users/@me/notification-settings",
    response_model=NotificationSettings,
    summary="Change the caller's notification settings",
)
async def update_settings(
    body: NotificationSettingsUpdate, ctx: Context, caller: Caller
) -> NotificationSettings:
    if body.email_notifications is None:
        enabled = await notifications.get_settings(ctx, user_id=caller.user_id)
    else:
        enabled = await notifications.set_email_notifications(
            ctx, user_id=caller.user_id, enabled=body.email_notifications
        )
    return NotificationSettings(email_notifications=enabled)
