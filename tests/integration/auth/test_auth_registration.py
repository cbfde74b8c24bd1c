"""Registration, e-mail confirmation and resending the confirmation mail."""

from __future__ import annotations

import pytest

from gochat.auth import opaque_tokens
from tests.fixtures.accounts import AuthService, mail_token

ADA = {"username": "ada", "email": "ada@example.com", "password": "correct horse battery"}


async def test_register_creates_an_unconfirmed_user_and_mails_a_confirmation_link(
    auth_service: AuthService, sql
) -> None:
    response = await auth_service.client.post("/auth/register", json=ADA)

    assert response.status_code == 201
    user = response.json()
    assert user["username"] == "ada"
    assert user["id"].isdigit()
    assert "email" not in user and "password" not in user and "password_hash" not in user
    [mail] = auth_service.mails(kind="confirm_email", to="ada@example.com")
    token = mail_token(mail)
    assert f"http://gochat.test/confirm-email?token={token}" in mail.get_body().get_content()
    assert await sql.value("SELECT email_confirmed_at FROM users") is None
    assert (await sql.value("SELECT password_hash FROM users")).startswith("$argon2id$")
    # Only a digest of the mailed token is stored.
    stored = await sql.value("SELECT token_hash FROM mail_tokens")
    assert stored == opaque_tokens.digest(token) != token.encode()


async def test_confirming_the_mailed_token_confirms_the_account_once(
    auth_service: AuthService, sql
) -> None:
    await auth_service.client.post("/auth/register", json=ADA)
    token = auth_service.latest_token(kind="confirm_email", to=ADA["email"])

    confirmed = await auth_service.client.post("/auth/confirm-email", json={"token": token})
    again = await auth_service.client.post("/auth/confirm-email", json={"token": token})

    assert confirmed.status_code == 200
    assert confirmed.json()["username"] == "ada"
    assert await sql.value("SELECT email_confirmed_at IS NOT NULL FROM users")
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "invalid_token"


async def test_unknown_confirmation_token_is_rejected(auth_service: AuthService) -> None:
    response = await auth_service.client.post("/auth/confirm-email", json={"token": "nope"})

    assert response.status_code == 400
    assert response.json()["error"]["details"] == [
        {"field": "token", "reason": "unknown or already used"}
    ]


async def test_expired_confirmation_token_is_gone(auth_service: AuthService, sql) -> None:
    await auth_service.client.post("/auth/register", json=ADA)
    token = auth_service.latest_token(kind="confirm_email", to=ADA["email"])
    await sql.execute("UPDATE mail_tokens SET expires_at = now() - interval '1 second'")

    response = await auth_service.client.post("/auth/confirm-email", json={"token": token})

    assert response.status_code == 410
    assert response.json()["error"]["code"] == "token_expired"
    assert await sql.value("SELECT email_confirmed_at FROM users") is None


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"username": "bob"}, "email_taken", "email"),
        ({"email": "ADA@example.com", "username": "bob"}, "email_taken", "email"),
        ({"email": "other@example.com", "username": "Ada"}, "username_taken", "username"),
    ],
)
async def test_username_and_email_are_unique_ignoring_case(
    auth_service: AuthService, sql, changes: dict[str, str], code: str, field: str
) -> None:
    await auth_service.client.post("/auth/register", json=ADA)

    response = await auth_service.client.post("/auth/register", json=ADA | changes)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["details"][0]["field"] == field
    assert await sql.count("users") == 1
    assert len(auth_service.mails()) == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"username": "a"}, "username"),
        ({"username": "x" * 33}, "username"),
        ({"username": "no spaces"}, "username"),
        ({"username": "émile"}, "username"),
        ({"email": "not-an-address"}, "email"),
        ({"email": "a@b@example.com"}, "email"),
        ({"email": "x" * 250 + "@example.com"}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "p" * 129}, "password"),
        ({"password": None}, "password"),
        ({"admin": True}, "admin"),
    ],
)
async def test_bad_registration_names_the_field_and_writes_nothing(
    auth_service: AuthService, sql, changes: dict[str, object], field: str
) -> None:
    response = await auth_service.client.post("/auth/register", json=ADA | changes)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["field"] == field
    assert await sql.count("users") == 0
    assert await sql.count("rate_limit_hits") == 0
    assert auth_service.mails() == []


async def test_missing_field_and_malformed_json_are_rejected(auth_service: AuthService) -> None:
    missing = await auth_service.client.post("/auth/register", json={"username": "ada"})
    malformed = await auth_service.client.post(
        "/auth/register", content=b"{not json", headers={"content-type": "application/json"}
    )

    assert missing.status_code == 422
    assert {d["field"] for d in missing.json()["error"]["details"]} == {"email", "password"}
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "malformed_json"


async def test_email_is_stored_normalized(auth_service: AuthService, sql) -> None:
    response = await auth_service.client.post(
        "/auth/register", json=ADA | {"email": "Ada@EXAMPLE.com"}
    )

    assert response.status_code == 201
    assert await sql.value("SELECT email FROM users") == "Ada@example.com"


async def test_resend_mails_a_new_token_and_retires_the_old_one(auth_service: AuthService) -> None:
    await auth_service.client.post("/auth/register", json=ADA)
    first = auth_service.latest_token(kind="confirm_email", to=ADA["email"])

    response = await auth_service.client.post(
        "/auth/resend-confirmation", json={"email": "ADA@example.com"}
    )

    assert response.status_code == 202
    second = auth_service.latest_token(kind="confirm_email", to=ADA["email"])
    assert second != first
    old = await auth_service.client.post("/auth/confirm-email", json={"token": first})
    new = await auth_service.client.post("/auth/confirm-email", json={"token": second})
    assert old.status_code == 400
    assert new.status_code == 200


async def test_resend_answers_the_same_for_unknown_and_confirmed_addresses(
    auth_service: AuthService,
) -> None:
    await auth_service.register_confirmed(username="bob", email="bob@example.com")
    mails_before = len(auth_service.mails())

    unknown = await auth_service.client.post(
        "/auth/resend-confirmation", json={"email": "nobody@example.com"}
    )
    confirmed = await auth_service.client.post(
        "/auth/resend-confirmation", json={"email": "bob@example.com"}
    )

    assert unknown.status_code == confirmed.status_code == 202
    assert unknown.json() == confirmed.json() == {"status": "accepted"}
    assert len(auth_service.mails()) == mails_before


async def test_resend_with_a_bad_address_names_the_field(auth_service: AuthService) -> None:
    response = await auth_service.client.post("/auth/resend-confirmation", json={"email": "x"})

    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "email"
