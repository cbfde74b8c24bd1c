"""The API's attachment keys: allowed types from YAML or a comma-separated env var, each bad
value naming its key; the type families the storage is held to."""

from __future__ import annotations

from pathlib import Path

import pytest

from gochat.api.services import attachments
from gochat.core import config


def load(env: dict[str, str], tmp_path: Path, yaml_text: str = "") -> config.ApiConfig:
    file = tmp_path / "api.yaml"
    file.write_text(yaml_text)
    return config.load_config(
        config.ApiConfig, service="api", env={"GOCHAT_CONFIG": str(file), **env}
    )


def test_allowed_types_come_from_yaml_or_a_comma_separated_env_var(tmp_path: Path) -> None:
    from_yaml = load({}, tmp_path, "attachment_content_types: [image/*, Application/PDF]\n")
    from_env = load({"GOCHAT_ATTACHMENT_CONTENT_TYPES": "image/*, text/plain"}, tmp_path)
    assert from_yaml.attachment_content_types == ["image/*", "application/pdf"]
    assert from_env.attachment_content_types == ["image/*", "text/plain"]
    assert "image/*" in load({}, tmp_path).attachment_content_types


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"GOCHAT_ATTACHMENT_CONTENT_TYPES": "image"}, "attachment_content_types"),
        ({"GOCHAT_ATTACHMENT_UPLOAD_TTL_SECONDS": "5"}, "attachment_upload_ttl_seconds"),
        ({"GOCHAT_MAX_ATTACHMENTS_PER_MESSAGE": "0"}, "max_attachments_per_message"),
        ({"GOCHAT_S3_ENDPOINT": "minio:9000"}, "s3_endpoint"),
        ({"GOCHAT_S3_PUBLIC_ENDPOINT": "files.example.com"}, "s3_public_endpoint"),
        ({"GOCHAT_S3_PUBLIC_ENDPOINT": "ftp://files.example.com"}, "s3_public_endpoint"),
        ({"GOCHAT_S3_PUBLIC_ENDPOINT": "https://files.example.com:x"}, "s3_public_endpoint"),
        ({"GOCHAT_S3_PUBLIC_ENDPOINT": "https://example.com/files"}, "s3_public_endpoint"),
    ],
)
def test_a_bad_attachment_value_names_its_key(
    env: dict[str, str], key: str, tmp_path: Path
) -> None:
    with pytest.raises(config.ConfigError) as raised:
        load(env, tmp_path)
    assert raised.value.key == key


def test_the_public_s3_endpoint_is_optional_and_kept_without_its_trailing_slash(
    tmp_path: Path,
) -> None:
    assert load({}, tmp_path).s3_public_endpoint is None
    given = load({"GOCHAT_S3_PUBLIC_ENDPOINT": "https://files.example.com/"}, tmp_path)
    assert given.s3_public_endpoint == "https://files.example.com"
    from_yaml = load({}, tmp_path, "s3_public_endpoint: http://127.0.0.1:9000\n")
    assert from_yaml.s3_public_endpoint == "http://127.0.0.1:9000"


def test_the_storage_holds_an_upload_to_its_types_family_or_exact_type() -> None:
    allowed = ["image/*", "application/pdf"]
    assert attachments.type_prefix(allowed, "image/PNG") == "image/"
    assert attachments.type_prefix(allowed, "application/pdf") == "application/pdf"
    assert attachments.type_prefix(allowed, "application/zip") is None
    assert attachments.type_prefix(allowed, "text/html") is None
