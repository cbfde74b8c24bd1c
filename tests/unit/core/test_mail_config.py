"""The auth service's mail keys: SendPulse template ids from YAML or a JSON env var, SMTP
security modes and locales checked at load, each bad value naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gochat.core import config


def load(env: dict[str, str], tmp_path: Path, yaml_text: str = "") -> config.AuthConfig:
    file = tmp_path / "auth.yaml"
    file.write_text(yaml_text)
    return config.load_config(
        config.AuthConfig, service="auth", env={"GOCHAT_CONFIG": str(file), **env}
    )


def test_template_ids_come_from_yaml_or_a_json_env_var(tmp_path: Path) -> None:
    from_yaml = load({}, tmp_path, "sendpulse_template_ids:\n  confirm_email: 7\n")
    from_env = load(
        {"GOCHAT_SENDPULSE_TEMPLATE_IDS": '{"confirm_email": 8, "confirm_email.pt": "9"}'},
        tmp_path,
    )

    assert from_yaml.sendpulse_template_ids == {"confirm_email": 7}
    assert from_env.sendpulse_template_ids == {"confirm_email": 8, "confirm_email.pt": 9}
    assert load({}, tmp_path).sendpulse_template_ids == {}


def test_mail_defaults(tmp_path: Path) -> None:
    cfg = load({}, tmp_path)

    assert (cfg.mailer, cfg.smtp_security, cfg.mail_locale) == ("outbox", "none", "en")


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"GOCHAT_SENDPULSE_TEMPLATE_IDS": "{confirm_email: 1"}, "sendpulse_template_ids"),
        ({"GOCHAT_SENDPULSE_TEMPLATE_IDS": '{"confirm_email": "abc"}'}, "sendpulse_template_ids"),
        ({"GOCHAT_SMTP_SECURITY": "ssl"}, "smtp_security"),
        ({"GOCHAT_MAIL_LOCALE": "../../etc"}, "mail_locale"),
        ({"GOCHAT_MAIL_QUEUE_MAX_ATTEMPTS": "0"}, "mail_queue_max_attempts"),
    ],
)
def test_bad_mail_values_name_the_key(tmp_path: Path, env: dict[str, str], key: str) -> None:
    with pytest.raises(config.ConfigError) as caught:
        load(env, tmp_path)

    assert caught.value.key.startswith(key)
