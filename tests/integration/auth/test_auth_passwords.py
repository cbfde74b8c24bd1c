"""Password reset by mail and password change."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.accounts import DEFAULT_PASSWORD, AuthService

NEW_PASSWORD = "a much better passphrase"


async def login(auth_service: AuthService, password: str) -> Any:
    return await auth_service.client.post(
        "/auth/login", json={"login": "ada", "password": password}
    )


async def request_reset_token(auth_service: AuthService) -> str:
    response = await auth_service.client.post(
        "/auth/password-reset/request", json={"email": "ada@example.com"}
    )
    assert response.status_code == 202
    return auth_service.latest_token(kind="reset_password", to="ada@example.com")


async def test_reset_mails_a_link_and_sets_a_new_password(auth_service: AuthService) -> None:
    await auth_service.register_confirmed(username="ada", email="ada@example.com")
    token = await request_reset_token(auth_service)
    [mail] = auth_service.mails(kind="reset_password")
    assert f"http://gochat.test/reset-password?token={token}" in mail.get_body().get_content()

    response = await auth_service.client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 204
    assert (await login(auth_service, DEFAULT_PASSWORD)).status_code == 401
    assert (await login(auth_service, NEW_PASSWORD)).status_code == 200


async def test_reset_ends_every_session(auth_service: AuthService) -> None:
    first = await auth_service.register_confirmed(username="ada", email="ada@example.com")
    second = (await login(auth_service, DEFAULT_PASSWORD)).json()
    token = await request_reset_token(auth_service)

    await auth_service.client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )

    for pair in (first, second):
        refresh = await auth_service.client.post(
            "/auth/refresh", json={"refresh_token": pair["refresh_token"]}
        )
        assert refresh.status_code == 401
        change = await auth_service.client.post(
            "/auth/password/change",
            json={"current_password": NEW_PASSWORD, "new_password": "yet another one"},
            headers={"Authorization": f"Bearer {pair['access_token']}"},
        )
        assert change.status_code == 401


async def test_reset_token_works_once(auth_service: AuthService) -> None:
    await auth_service.register_confirmed(username="ada", email="ada@example.com")
    token = await request_reset_token(auth_service)
    body = {"token": token, "new_password": NEW_PASSWORD}

    first = await auth_service.client.post("/auth/password-reset/confirm", json=body)
    second = await auth_service.client.post(
        "/auth/password-reset/confirm", json=body | {"new_password": "attacker's choice"}
    )

    assert first.status_code == 204
    assert second.status_code == 400
    assert second.json()["error"]["code"] == "invalid_token"
    assert (await login(auth_service, NEW_PASSWORD)).status_code == 200


async def test_a_reset_retires_the_other_outstanding_reset_tokens(
    auth_service: AuthService,
) -> None:
    await auth_service.register_confirmed(username="ada", email="ada@example.com")
    older = await request_reset_token(auth_service)
    newer = await request_reset_token(auth_service)

    await auth_service.client.post(
        "/auth/password-reset/confirm", json={"token": newer, "new_password": NEW_PASSWORD}
    )
    response = await auth_service.client.post(
        "/auth/password-reset/confirm", json={"token": older, "new_password": "other password"}
    )

    assert response.status_code == 400


async def test_expired_reset_token_is_gone_and_changes_nothing(
    auth_service: AuthService, sql
) -> None:
    await auth_service.register_confirmed(username="ada", email="ada@example.com")
    token = await request_reset_token(auth_service)
    await sql.execute("UPDATE mail_tokens SET expires_at = now() - interval '1 second'")

    response = await auth_service.client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 410
    assert response.json()["error"]["code"] == "token_expired"
    assert (await login(auth_service, DEFAULT_PASSWORD)).status_code == 200


async def test_a_confirmation_token_cannot_reset_a_password(auth_service: AuthService) -> None:
    await auth_service.client.post(
        "/auth/register",
        json={"username": "ada", "email": "ada@example.com", "password": DEFAULT_PASSWORD},
    )
    confirmation = auth_service.latest_token(kind="confirm_email", to="ada@example.com")

    response = await auth_service.client.post(
        "/auth/password-reset/confirm", json={"token": confirmation, "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 400


async def test_reset_of_an_unconfirmed_account_also_confirms_it(auth_service: AuthService) -> None:
    await auth_service.client.post(
        "/auth/register",
        json={"username": "ada", "email": "ada@example.com", "password": DEFAULT_PASSWORD},
    )
    token = await request_reset_token(auth_service)

    await auth_service.client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )

    assert (await login(auth_service, NEW_PASSWORD)).status_code == 200


async def test_reset_request_for_an_unknown_address_looks_the_same(
    auth_service: AuthService, sql
) -> None:
    response = await auth_service.client.post(
        "/auth/password-reset/request", json={"email": "nobody@example.com"}
    )

    assert response.status_code == 202
    assert response.json() == {"status": "accepted"}
    assert auth_service.mails() == []
    assert await sql.count("mail_tokens") == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"token": "t", "new_password": "short"}, "new_password"),
        ({"token": "", "new_password": NEW_PASSWORD}, "token"),
        ({"token": "t", "new_password": NEW_PASSWORD, "extra": 1}, "extra"),
    ],
)
async def test_bad_reset_confirmation_names_the_field(
    auth_service: AuthService, body: dict[str, object], field: str
) -> None:
    response = await auth_service.client.post("/auth/password-reset/confirm", json=body)

    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == field


async def test_change_password_keeps_this_session_and_ends_the_others(
    auth_service: AuthService,
) -> None:
    this = await auth_service.register_confirmed(username="ada", email="ada@example.com")
    other = (await login(auth_service, DEFAULT_PASSWORD)).json()

    response = await auth_service.client.post(
        "/auth/password/change",
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        headers={"Authorization": f"Bearer {this['access_token']}"},
    )

    assert response.status_code == 204
    kept = await auth_service.client.post(
        "/auth/refresh", json={"refresh_token": this["refresh_token"]}
    )
    ended = await auth_service.client.post(
        "/auth/refresh", json={"refresh_token": other["refresh_token"]}
    )
    assert kept.status_code == 200
    assert ended.status_code == 401
    assert (await login(auth_service, NEW_PASSWORD)).status_code == 200
    assert (await login(auth_service, DEFAULT_PASSWORD)).status_code == 401


async def test_change_password_with_a_wrong_current_password_changes_nothing(
    auth_service: AuthService,
) -> None:
    pair = await auth_service.register_confirmed(username="ada", email="ada@example.com")

    response = await auth_service.client.post(
        "/auth/password/change",
        json={"current_password": "not it at all", "new_password": NEW_PASSWORD},
        headers={"Authorization": f"Bearer {pair['access_token']}"},
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "wrong_password"
    assert response.json()["error"]["details"][0]["field"] == "current_password"
    assert (await login(auth_service, DEFAULT_PASSWORD)).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic YWRhOnB3"}, {"Authorization": "Bearer not.a.jwt"}],
)
async def test_change_password_needs_a_valid_bearer_token(
    auth_service: AuthService, headers: dict[str, str]
) -> None:
    response = await auth_service.client.post(
        "/auth/password/change",
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        headers=headers,
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_change_password_after_logout_is_refused(auth_service: AuthService) -> None:
    pair = await auth_service.register_confirmed(username="ada", email="ada@example.com")
    await auth_service.client.post("/auth/logout", json={"refresh_token": pair["refresh_token"]})

    response = await auth_service.client.post(
        "/auth/password/change",
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        headers={"Authorization": f"Bearer {pair['access_token']}"},
    )

    assert response.status_code == 401
    assert response.json()["error"]["message"] == "session ended"


async def test_bad_new_password_names_the_field(auth_service: AuthService) -> None:
    pair = await auth_service.register_confirmed(username="ada", email="ada@example.com")

    response = await auth_service.client.post(
        "/auth/password/change",
        json={"current_password": DEFAULT_PASSWORD, "new_password": "short"},
        headers={"Authorization": f"Bearer {pair['access_token']}"},
    )

    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "new_password"
    assert (await login(auth_service, DEFAULT_PASSWORD)).status_code == 200
