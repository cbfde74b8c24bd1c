"""Mail texts, client addresses behind proxies, limit windows, password hashing."""

from __future__ import annotations

from datetime import UTC, datetime

import argon2
import pytest

from gochat.adapters import mail_templates
from gochat.auth import limits, mails, opaque_tokens, passwords
from gochat.auth.routers import dependencies
from gochat.core import config


def test_confirmation_mail_has_the_link_and_a_token_line() -> None:
    mail = mails.confirmation(
        to="ada@example.com", username="ada", public_url="https://chat.example/", token="a-b_c"
    )
    text = mail_templates.render(mail).text

    assert mail.kind == "confirm_email"
    assert "https://chat.example/confirm-email?token=a-b_c\n" in text
    assert text.rstrip().endswith("Token: a-b_c")


def test_reset_mail_has_the_link_and_a_token_line() -> None:
    token = opaque_tokens.new_token()
    mail = mails.password_reset(
        to="ada@example.com", username="ada", public_url="http://127.0.0.1:8080", token=token
    )
    text = mail_templates.render(mail).text

    assert mail.kind == "reset_password"
    assert f"http://127.0.0.1:8080/reset-password?token={token}\n" in text
    assert f"Token: {token}\n" in text


def test_tokens_are_url_safe_random_and_stored_as_sha256() -> None:
    token = opaque_tokens.new_token()

    assert len(token) == 43 and token.replace("-", "").replace("_", "").isalnum()
    assert token != opaque_tokens.new_token()
    assert len(opaque_tokens.digest(token)) == 32


@pytest.mark.parametrize(
    ("forwarded_for", "hops", "expected"),
    [
        (None, 0, "10.0.0.1"),
        ("198.51.100.9", 0, "10.0.0.1"),  # no trusted proxy: the header is the client's word
        ("198.51.100.9", 1, "198.51.100.9"),
        ("6.6.6.6, 198.51.100.9", 1, "198.51.100.9"),  # spoofed entry on the left ignored
        ("6.6.6.6, 198.51.100.9, 10.1.1.1", 2, "198.51.100.9"),
        ("198.51.100.9", 2, "198.51.100.9"),  # shorter chain than hops: the leftmost
        (" , ", 1, "10.0.0.1"),
    ],
)
def test_client_address_honours_only_trusted_proxy_hops(
    forwarded_for: str | None, hops: int, expected: str
) -> None:
    address = dependencies.client_address(
        peer="10.0.0.1", forwarded_for=forwarded_for, trusted_hops=hops
    )

    assert address == expected


def test_limit_windows_are_aligned_so_every_replica_counts_in_the_same_row() -> None:
    moment = datetime(2026, 11, 24, 12, 7, 31, 500_000, tzinfo=UTC)

    assert limits._window_start(moment, 900) == datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert limits._window_start(moment, 3600) == datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_limits_come_from_the_config() -> None:
    cfg = config.AuthConfig(login_attempts_per_account=3, reset_per_ip=7)

    configured = limits.Limits.from_config(cfg)

    assert configured.login_account == limits.Limit("login_account", 3, 900)
    assert configured.mail_ip == limits.Limit("mail_ip", 7, 3600)
    assert configured.register_ip.window_seconds == 3600


CHEAP = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


async def test_password_hashes_are_argon2id_and_verify() -> None:
    hasher = passwords.PasswordHasher(CHEAP)

    stored = await hasher.hash("correct horse")

    assert stored.startswith("$argon2id$")
    assert await hasher.verify(stored, "correct horse")
    assert not await hasher.verify(stored, "wrong horse")
    assert not await hasher.verify(None, "correct horse")
    assert not await hasher.verify("not a hash", "correct horse")


async def test_hashes_with_old_parameters_need_a_rehash() -> None:
    old = await passwords.PasswordHasher(CHEAP).hash("correct horse")
    current = passwords.PasswordHasher(
        argon2.PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    )

    assert current.needs_rehash(old)
    assert not current.needs_rehash(await current.hash("correct horse"))
