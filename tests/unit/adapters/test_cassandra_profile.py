"""The Cassandra execution profile: token-aware over DC-aware round robin with the configured
local DC (never a remote one), the configured consistency, LOCAL_SERIAL for conditional writes."""

from __future__ import annotations

from typing import Any

import cassandra
import pytest
from cassandra import ConsistencyLevel, OperationTimedOut
from cassandra.cluster import NoHostAvailable
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

from gochat.adapters.cassandra import session as cassandra_session


def settings(**overrides: object) -> cassandra_session.Settings:
    values: dict[str, object] = {"hosts": ("db",), "keyspace": "gochat", "local_dc": "eu-1"}
    return cassandra_session.Settings(**(values | overrides))  # type: ignore[arg-type]


def test_the_profile_routes_by_token_within_the_local_dc_at_local_quorum() -> None:
    profile = cassandra_session.execution_profile(settings(request_timeout=3.0))

    policy = profile.load_balancing_policy
    assert isinstance(policy, TokenAwarePolicy)
    assert isinstance(policy._child_policy, DCAwareRoundRobinPolicy)
    assert policy._child_policy.local_dc == "eu-1"
    assert policy._child_policy.used_hosts_per_remote_dc == 0
    assert profile.consistency_level == ConsistencyLevel.LOCAL_QUORUM
    assert profile.serial_consistency_level == ConsistencyLevel.LOCAL_SERIAL
    assert profile.request_timeout == 3.0


@pytest.mark.parametrize("level", ["LOCAL_ONE", "QUORUM", "EACH_QUORUM"])
def test_the_consistency_level_is_configurable(level: str) -> None:
    profile = cassandra_session.execution_profile(settings(consistency=level))
    assert profile.consistency_level == getattr(ConsistencyLevel, level)


def test_contact_points_carry_their_own_port() -> None:
    assert cassandra_session.contact_points(["a", "b:9043", "10.0.0.1:9142"]) == [
        ("a", 9042),
        ("b", 9043),
        ("10.0.0.1", 9142),
    ]


class _FailingFuture:
    has_more_pages = False

    def __init__(self, error: Exception) -> None:
        self._error = error

    def add_callbacks(self, *, callback: object, errback: Any) -> None:
        errback(self._error)


class _DriverSession:
    def __init__(self, error: Exception) -> None:
        self._error = error

    def execute_async(self, query: object, args: object) -> _FailingFuture:
        return _FailingFuture(self._error)


@pytest.mark.parametrize(
    "error",
    [
        NoHostAvailable("no host", {}),
        OperationTimedOut("timed out"),
        cassandra.Unavailable("not enough replicas"),
        cassandra.WriteTimeout("write timeout", write_type=0),
    ],
)
async def test_an_unreachable_cassandra_is_a_503_with_retry_after(error: Exception) -> None:
    db = cassandra_session.CassandraSession(
        None,  # type: ignore[arg-type]
        _DriverSession(error),  # type: ignore[arg-type]
        service="test",
    )
    with pytest.raises(cassandra_session.StoreUnavailable) as raised:
        await db.run("send", "INSERT ...")
    assert raised.value.status == 503
    assert raised.value.headers == {"Retry-After": "2"}
    assert raised.value.__cause__ is error


async def test_other_driver_errors_pass_through_unchanged() -> None:
    error = cassandra.InvalidRequest("bad query")
    db = cassandra_session.CassandraSession(
        None,  # type: ignore[arg-type]
        _DriverSession(error),  # type: ignore[arg-type]
        service="test",
    )
    with pytest.raises(cassandra.InvalidRequest):
        await db.run("bad", "SELECT ...")
