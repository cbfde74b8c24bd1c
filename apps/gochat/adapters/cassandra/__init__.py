"""Cassandra/ScyllaDB adapters (cassandra-driver): the message store for large deployments."""
