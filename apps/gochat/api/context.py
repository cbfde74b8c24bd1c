"""What every API request handler may use, built once at start-up and closed at shutdown."""

from __future__ import annotations

from dataclasses import dataclass

from gochat.adapters.postgres.database import Database
from gochat.adapters.postgres.directory import Directory
from gochat.core.config import ApiConfig
from gochat.core.ids import SnowflakeGenerator
from gochat.core.tokens import TokenVerifier
from gochat.ports import BlobStore, MessageStore, PendingUploads, SearchIndex


@dataclass
class ApiContext:
    config: ApiConfig
    db: Database
    directory: Directory
    messages: MessageStore
    search: SearchIndex | None
    verifier: TokenVerifier
    ids: SnowflakeGenerator
    blobs: BlobStore
    uploads: PendingUploads
