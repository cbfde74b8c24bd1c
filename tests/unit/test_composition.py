"""The composition root: every choice a config offers builds its adapter or stops the process at
start with an error naming the key; /readyz lists every backend a choice adds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gochat import composition
from gochat.adapters.localfs import mail_outbox
from gochat.adapters.postgres import messages as pg_messages
from gochat.adapters.postgres import search as pg_search
from gochat.adapters.sendpulse import mailer as sendpulse_mailer
from gochat.adapters.smtp import mailer as smtp_mailer
from gochat.core import config

CASSANDRA = {"cassandra_hosts": "10.0.0.1,10.0.0.2:9043", "cassandra_local_dc": "eu-1"}


class FakeDatabase:
    """Only passed through to adapter constructors that store it."""


def config_error(cfg: Any) -> config.ConfigError:
    with pytest.raises(config.ConfigError) as raised:
        composition.Backends(cfg)
    return raised.value


def test_the_default_config_builds_every_adapter_on_postgresql() -> None:
    backends = composition.Backends(config.ApiConfig())
    assert isinstance(backends.search_index(FakeDatabase()), pg_search.PostgresSearchIndex)  # type: ignore[arg-type]
    assert backends.readiness_checks() == []


async def test_the_postgres_message_store_is_built_on_the_services_pool() -> None:
    backends = composition.Backends(config.ApiConfig(message_store="postgres"))
    store = await backends.message_store(FakeDatabase())  # type: ignore[arg-type]
    assert isinstance(store, pg_messages.PostgresMessageStore)


def test_cassandra_adds_its_readiness_check_which_fails_until_connected() -> None:
    backends = composition.Backends(config.ApiConfig(message_store="cassandra", **CASSANDRA))
    assert [name for name, _ in backends.readiness_checks()] == ["cassandra"]


async def test_a_readiness_check_of_an_unopened_backend_fails() -> None:
    backends = composition.Backends(config.ApiConfig(message_store="cassandra", **CASSANDRA))
    [(_, ready)] = backends.readiness_checks()
    with pytest.raises(RuntimeError, match="cassandra not connected"):
        await ready()


def test_cassandra_settings_come_from_the_config() -> None:
    cfg = config.ApiConfig(
        message_store="cassandra", cassandra_consistency="LOCAL_ONE", **CASSANDRA
    )
    settings = composition.cassandra_settings(cfg)
    assert settings.hosts == ("10.0.0.1", "10.0.0.2:9043")
    assert (settings.local_dc, settings.consistency) == ("eu-1", "LOCAL_ONE")


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"message_store": "cassandra", "cassandra_local_dc": "dc1"}, "cassandra_hosts"),
        ({"message_store": "cassandra", "cassandra_hosts": "db"}, "cassandra_local_dc"),
    ],
)
def test_a_choice_without_a_key_it_needs_is_refused_naming_that_key(
    values: dict[str, str], key: str
) -> None:
    error = config_error(config.ApiConfig.model_validate(values))
    assert error.key == key
    assert str(error) == f"config error: {key}: required when message_store is cassandra"


@pytest.mark.parametrize(
    ("registry", "cfg", "key"),
    [
        (
            "MESSAGE_STORES",
            config.ApiConfig(message_store="cassandra", **CASSANDRA),
            "message_store",
        ),
        ("SEARCH_INDEXES", config.IndexerConfig(), "search_backend"),
        ("MAILERS", config.AuthConfig(), "mailer"),
    ],
)
def test_a_choice_without_an_adapter_in_this_build_is_refused_naming_the_key(
    registry: str, cfg: Any, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A build without the chosen adapter: the word is valid config, the adapter is missing.
    adapters = getattr(composition, registry)
    monkeypatch.delitem(adapters, getattr(cfg, key))
    error = config_error(cfg)
    available = ", ".join(sorted(adapters))
    assert str(error) == (
        f"config error: {key}: {getattr(cfg, key)!r} is not implemented in this build "
        f"(available: {available})"
    )


def test_an_unknown_choice_that_bypassed_validation_is_refused_naming_the_key() -> None:
    error = config_error(config.ApiConfig.model_construct(message_store="mongodb"))
    assert error.key == "message_store"
    assert "'mongodb'" in str(error)


@pytest.mark.parametrize(
    ("values", "adapter"),
    [
        ({"mailer": "outbox"}, mail_outbox.OutboxMailer),
        ({"mailer": "smtp"}, smtp_mailer.SmtpMailer),
        (
            {
                "mailer": "sendpulse",
                "sendpulse_client_id": "id",
                "sendpulse_client_secret": "secret",
                "sendpulse_template_ids": {
                    "confirm_email": 1,
                    "reset_password": 2,
                    "notification": 3,
                },
            },
            sendpulse_mailer.SendPulseMailer,
        ),
    ],
)
def test_each_mailer_choice_builds_its_adapter(
    values: dict[str, Any], adapter: type[object], tmp_path: Path
) -> None:
    cfg = config.AuthConfig.model_validate({"mail_outbox_dir": str(tmp_path), **values})
    assert isinstance(composition.Backends(cfg).mailer(), adapter)


def test_sendpulse_without_its_client_id_is_refused_naming_the_key() -> None:
    error = config_error(config.AuthConfig(mailer="sendpulse", sendpulse_client_secret="s"))
    assert error.key == "sendpulse_client_id"


def test_the_indexer_builds_its_search_index_from_the_root() -> None:
    backends = composition.Backends(config.IndexerConfig())
    assert isinstance(backends.search_index(FakeDatabase()), pg_search.PostgresSearchIndex)  # type: ignore[arg-type]
