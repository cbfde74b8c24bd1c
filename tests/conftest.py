"""Fixtures shared by every suite are plugins, so each lives in its own module."""

pytest_plugins = [
    "tests.fixtures.servers",
    "tests.fixtures.cassandra",
    "tests.fixtures.opensearch",
    "tests.fixtures.minio",
    "tests.fixtures.accounts",
    "tests.k8s.fixtures",
]
