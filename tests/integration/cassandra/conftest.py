"""The MessageStore suite's PostgreSQL world (users, guild, channels, outbox) for the
Cassandra-only tests here."""

from tests.integration.ports.conftest import message_db

__all__ = ["message_db"]
