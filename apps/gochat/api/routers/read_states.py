from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from gochat.api.deps import Caller, Context
from gochat.api.services import read_states
from gochat.core import http, schemas
from gochat.core.schemas import Snowflake

router = APIRouter(tags=["read states"], route_class=http.StrictQueryRoute)


class AckBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    mention_count: schemas.Int = Field(
        0, ge=0, le=1_000_000, description="Unread mentions left after this point (usually 0)."
    )


@router.post(
    "/channels/{channel_id}/messages/{message_id}/ack",
    response_model=schemas.ReadState,
    summary="Mark the channel read up to this message; synced to the caller's other sessions",
)
async def acknowledge(
    channel_id: Snowflake,
    message_id: Snowflake,
    ctx: Context,
    caller: Caller,
    body: AckBody | None = None,
) -> schemas.ReadState:
    return await read_states.acknowledge(
        ctx,
        channel_id=channel_id,
        message_id=message_id,
        user_id=caller.user_id,
        mention_count=body.mention_count if body else 0,
    )


@router.get(
    "/users/@me/read-states",
    response_model=list[schemas.ReadState],
    tags=["users"],
    summary="The caller's read state in every channel that has one",
)
async def list_read_states(ctx: Context, caller: Caller) -> list[schemas.ReadState]:
    return await read_states.list_mine(ctx, user_id=caller.user_id)
