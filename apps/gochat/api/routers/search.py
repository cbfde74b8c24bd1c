from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from gochat.api.deps import Caller, Context
from gochat.api.services import search
from gochat.core import http
from gochat.core.schemas import Snowflake

router = APIRouter(tags=["search"], route_class=http.StrictQueryRoute)


@router.get(
    "/guilds/{guild_id}/messages/search",
    response_model=search.SearchResults,
    summary="Search the guild's messages in channels whose history you may read; newest first",
)
async def search_guild_messages(
    guild_id: Snowflake,
    params: Annotated[search.SearchParams, Query()],
    ctx: Context,
    caller: Caller,
) -> search.SearchResults:
    return await search.search_messages(
        ctx, guild_id=guild_id, user_id=caller.user_id, params=params
    )
