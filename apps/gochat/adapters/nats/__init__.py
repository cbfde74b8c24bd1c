"""NATS JetStream adapters: the connection, the domain-event stream, and the outbox's publisher.

Import as `from gochat.adapters import nats as nats_adapter`, leaving the name `nats` to the
client library.
"""
