from __future__ import annotations

from fastapi import APIRouter

from gochat.api import models
from gochat.api.deps import Caller, Context
from gochat.api.services import users
from gochat.core import http, schemas
from gochat.core.schemas import Snowflake

router = APIRouter(tags=["users"], route_class=http.StrictQueryRoute)


@router.get("/users/@me", response_model=schemas.User, summary="The caller's profile")
async def get_me(ctx: Context, caller: Caller) -> schemas.User:
    return await users.get_user(ctx, user_id=caller.user_id)


@router.patch("/users/@me", response_model=schemas.User, summary="Update the caller's profile")
async def update_me(body: models.ProfileUpdate, ctx: Context, caller: Caller) -> schemas.User:
    return await users.update_profile(ctx, user_id=caller.user_id, body=body)


@router.get(
    "/users/@me/channels",
    response_model=list[schemas.Channel],
    summary="The caller's direct-message channels",
)
async def list_my_dms(ctx: Context, caller: Caller) -> list[schemas.Channel]:
    return await users.my_dms(ctx, user_id=caller.user_id)


@router.post(
    "/users/@me/channels",
    response_model=schemas.Channel,
    summary="Open (or get) the direct-message channel with another user",
)
async def open_dm(body: models.DmCreate, ctx: Context, caller: Caller) -> schemas.Channel:
    return await users.open_dm(ctx, user_id=caller.user_id, recipient_id=body.recipient_id)


@router.get("/users/{user_id:id}", response_model=schemas.User, summary="A user's public profile")
async def get_user(user_id: Snowflake, ctx: Context, caller: Caller) -> schemas.User:
    return await users.get_user(ctx, user_id=user_id)
