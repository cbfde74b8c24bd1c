"""Guild message search: query text and filters, limited to channels whose history the caller
may read, answered by the SearchIndex port and returned as full messages with a snippet.

The index is filled by the indexer from message events, so a message is found a moment after
it was sent (the indexer's consumer lag); a hit whose message was deleted in the meantime is
left out of the page (the `total` may count it until the delete is indexed).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from gochat.api.context import ApiContext
from gochat.api.services import access, messages
from gochat.core import errors, schemas
from gochat.core.permissions import Permission
from gochat.core.schemas import Snowflake
from gochat.ports import SearchQuery

# Search shows history, so it needs what reading the channel's history needs.
SEARCH_PERMISSIONS = Permission.VIEW_CHANNEL | Permission.READ_MESSAGE_HISTORY
MAX_OFFSET = 5000


class SearchParams(BaseModel):
    """The query string of `GET /guilds/{guild_id}/messages/search`."""

    model_config = ConfigDict(extra="forbid")

    q: Annotated[str, Field(max_length=500), schemas.STORABLE] = Field(
        "", description='Words, "a phrase", or, -excluded.'
    )
    channel_id: Snowflake | None = Field(None, description="Only this channel.")
    author_id: Snowflake | None = Field(None, description="Only messages by this user.")
    mentions: Snowflake | None = Field(None, description="Only messages mentioning this user.")
    has: Literal["attachment"] | None = Field(
        None, description="`attachment`: only messages with at least one file."
    )
    before: Snowflake | None = Field(None, description="Only messages with a smaller id.")
    after: Snowflake | None = Field(None, description="Only messages with a larger id.")
    limit: int = Field(25, ge=1, le=100)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class SearchMessage(schemas.Message):
    snippet: str = Field(
        description="The matching text, HTML-escaped, with <mark>…</mark> around matches."
    )


class SearchResults(BaseModel):
    total: int = Field(description="Matches in all readable channels (for paging).")
    messages: list[SearchMessage] = Field(description="Newest first.")


async def search_messages(
    ctx: ApiContext, *, guild_id: int, user_id: int, params: SearchParams
) -> SearchResults:
    _validate(params)
    if ctx.search is None:
        raise errors.Unavailable("search is not configured on this server")
    async with ctx.directory.read("search_channel_access") as tx:
        # Search shows history, so it needs what reading history needs.
        channel_ids = await access.channel_ids_with(
            tx, guild_id, user_id, needed=SEARCH_PERMISSIONS
        )
    if params.channel_id is not None:
        if params.channel_id not in channel_ids:
            # A channel the caller cannot read does not exist for them.
            raise errors.NotFound("unknown channel", details={"channel_id": str(params.channel_id)})
        channel_ids = [params.channel_id]
    if not channel_ids:
        return SearchResults(total=0, messages=[])
    result = await ctx.search.search(
        SearchQuery(
            guild_id=guild_id,
            text=params.q,
            channel_ids=channel_ids,
            author_id=params.author_id,
            mentions=params.mentions,
            has_attachment=params.has == "attachment",
            before=params.before,
            after=params.after,
            limit=params.limit,
            offset=params.offset,
        )
    )
    records = await asyncio.gather(
        *(ctx.messages.get(hit.channel_id, hit.message_id) for hit in result.hits)
    )
    found = await messages.to_schema(ctx, [r for r in records if r], viewer_id=user_id)
    snippets = {hit.message_id: hit.snippet for hit in result.hits}
    return SearchResults(
        total=result.total,
        messages=[
            SearchMessage.model_validate({**m.model_dump(), "snippet": snippets[m.id]})
            for m in found
        ],
    )


def _validate(params: SearchParams) -> None:
    filters = (params.channel_id, params.author_id, params.mentions, params.has)
    if not params.q.strip() and not any(filters):
        raise errors.ValidationFailed.for_field(
            "q", "give search text, or at least one of channel_id, author_id, mentions, has"
        )
    if params.before is not None and params.after is not None and params.before <= params.after:
        raise errors.ValidationFailed.for_field("before", "must be greater than after")
