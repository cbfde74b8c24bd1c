from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gochat.core import config


def test_defaults_then_yaml_then_env(tmp_path: Path) -> None:
    file = tmp_path / "api.yaml"
    file.write_text("port: 9000\nmax_message_length: 200\n")
    env = {"GOCHAT_CONFIG": str(file), "GOCHAT_PORT": "9100", "GOCHAT_UNRELATED": "x"}
    cfg = config.load_config(config.ApiConfig, service="api", env=env)
    assert cfg.port == 9100 and cfg.max_message_length == 200 and cfg.search_backend == "postgres"


@pytest.mark.parametrize(
    ("yaml_text", "env", "key"),
    [
        ("port: 0\n", {}, "port"),
        ("colour: red\n", {}, "colour"),
        ("", {"GOCHAT_PORT": "eighty"}, "port"),
        ("", {"GOCHAT_MESSAGE_STORE": "mongo"}, "message_store"),
        ("event_loop: tokio\n", {}, "event_loop"),
        ("- a list\n", {}, "api.yaml"),
    ],
)
def test_bad_values_name_the_key(
    tmp_path: Path, yaml_text: str, env: dict[str, str], key: str
) -> None:
    file = tmp_path / "api.yaml"
    file.write_text(yaml_text)
    with pytest.raises(config.ConfigError) as caught:
        config.load_config(config.ApiConfig, service="api", env={"GOCHAT_CONFIG": str(file), **env})
    assert key in str(caught.value)


def test_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="does not exist"):
        config.load_config(
            config.ApiConfig, service="api", env={"GOCHAT_CONFIG": str(tmp_path / "missing.yaml")}
        )


def test_a_bad_value_stops_the_service_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gochat", "api"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"GOCHAT_PORT": "99999", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "gochat api: config error: port: Input should be less than or equal to 65535"
    ]
