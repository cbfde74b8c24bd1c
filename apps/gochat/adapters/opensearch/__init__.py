"""OpenSearch adapters: the SearchIndex (search.py), the index layout and its migrations
(schema.py), and the rebuild from the message store (reindex.py)."""

from __future__ import annotations

from opensearchpy import AsyncOpenSearch


def make_client(
    url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    timeout: float = 30.0,
) -> AsyncOpenSearch:
    """An async client on `url`; basic auth when a username is given. No client-side retries:
    the indexer retries whole batches with back-off itself."""
    auth = (username, password or "") if username else None
    return AsyncOpenSearch(
        hosts=[url], http_auth=auth, timeout=timeout, max_retries=0, retry_on_timeout=False
    )
