"""Request validation: what the auth API accepts, and the field it names when it refuses."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gochat.auth import models

GOOD = {"username": "ada_l.ovelace-1", "email": "ada@example.com", "password": "8 chars!"}


def refused_field(model: type[models.Request], data: dict[str, object]) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return ".".join(str(part) for part in caught.value.errors()[0]["loc"])


def test_a_good_registration_is_accepted() -> None:
    request = models.RegisterRequest.model_validate(GOOD)

    assert request.username == "ada_l.ovelace-1"


@pytest.mark.parametrize("username", ["ab", "x" * 32, "A.B-C_9"])
def test_usernames_of_2_to_32_allowed_characters_are_accepted(username: str) -> None:
    assert models.RegisterRequest.model_validate(GOOD | {"username": username})


@pytest.mark.parametrize("username", ["a", "x" * 33, "with space", "emoji🙂", "a@b", "", "ünï"])
def test_other_usernames_are_refused(username: str) -> None:
    assert refused_field(models.RegisterRequest, GOOD | {"username": username}) == "username"


@pytest.mark.parametrize("password", ["x" * 7, "x" * 129, ""])
def test_passwords_outside_8_to_128_characters_are_refused(password: str) -> None:
    assert refused_field(models.RegisterRequest, GOOD | {"password": password}) == "password"


@pytest.mark.parametrize("password", ["x" * 8, "x" * 128, "ünïcødé pässwörd"])
def test_passwords_of_8_to_128_characters_are_accepted(password: str) -> None:
    assert models.RegisterRequest.model_validate(GOOD | {"password": password})


@pytest.mark.parametrize(
    "email", ["plain", "@example.com", "ada@", "ada@@example.com", "ada@exa mple.com", "a" * 300]
)
def test_malformed_addresses_are_refused(email: str) -> None:
    assert refused_field(models.RegisterRequest, GOOD | {"email": email}) == "email"


def test_addresses_are_normalized_without_a_dns_lookup() -> None:
    request = models.EmailRequest.model_validate({"email": "Ada@EXAMPLE.com"})

    assert request.email == "Ada@example.com"


@pytest.mark.parametrize(
    "model",
    [
        models.RegisterRequest,
        models.LoginRequest,
        models.TokenRequest,
        models.EmailRequest,
        models.RefreshRequest,
        models.PasswordResetConfirmRequest,
        models.PasswordChangeRequest,
    ],
)
def test_every_request_refuses_unknown_fields(model: type[models.Request]) -> None:
    assert model.model_config.get("extra") == "forbid"


def test_login_accepts_a_short_legacy_password_but_not_an_endless_one() -> None:
    assert models.LoginRequest.model_validate({"login": "ada", "password": "x"})
    assert refused_field(models.LoginRequest, {"login": "ada", "password": "x" * 129}) == "password"
