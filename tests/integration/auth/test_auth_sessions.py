"""Login, refresh-token rotation and reuse detection, logout."""

from __future__ import annotations

import jwt
import pytest

from gochat.core import errors, tokens
from tests.fixtures.accounts import DEFAULT_PASSWORD, AuthService


async def verifier_for(auth_service: AuthService) -> tokens.TokenVerifier:
    """What api and ws do: verify with the JWKS the auth service publishes."""
    verifier = tokens.TokenVerifier(
        jwks_url="http://auth.test/.well-known/jwks.json",
        issuer="gochat",
        client=auth_service.client,
    )
    await verifier.refresh()
    return verifier


async def test_login_by_username_returns_a_bearer_pair_whose_access_token_verifies(
    auth_service: AuthService,
) -> None:
    await auth_service.register_confirmed(username="ada", email="ada@example.com")

    response = await auth_service.client.post(
        "/auth/login", json={"login": "ada", "password": DEFAULT_PASSWORD}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["user"]["username"] == "ada"
    claims = await (await verifier_for(auth_service)).verify(body["access_token"])
    assert claims.user_id == int(body["user"]["id"])
    raw = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert set(raw) == {"iss", "sub", "sid", "iat", "exp", "typ"}
    assert raw["iss"] == "gochat" and raw["typ"] == "access"
    assert raw["sub"] == body["user"]["id"] and raw["sid"] == claims.session_id
    assert raw["exp"] - raw["iat"] == 900
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "EdDSA"
    assert header["kid"] in {key["kid"] for key in auth_service.app.state.auth.keys.jwks()["keys"]}


async def test_login_by_email_ignores_case(auth_service: AuthService) -> None:
    await auth_service.register_confirmed(username="ada", email="ada@example.com")

    response = await auth_service.client.post(
        "/auth/login", json={"login": "ADA@Example.com", "password": DEFAULT_PASSWORD}
    )

    assert response.status_code == 200


async def test_each_login_is_its_own_session(auth_service: AuthService) -> None:
    first = await auth_service.register_confirmed(username="ada", email="ada@example.com")
    second = (
        await auth_service.client.post(
            "/auth/login", json={"login": "ada", "password": DEFAULT_PASSWORD}
        )
    ).json()

    verifier = await verifier_for(auth_service)
    sessions = {
        (await verifier.verify(pair["access_token"])).session_id for pair in (first, second)
    }
    assert len(sessions) == 2


@pytest.mark.parametrize(
    "credentials",
    [
        {"login": "ada", "password": "wrong password"},
        {"login": "nobody", "password": DEFAULT_PASSWORD},
        {"login": "nobody@example.com", "password": DEFAULT_PASSWORD},
    ],
)
async def test_wrong_password_and_unknown_login_get_the_same_answer(
    auth_service: AuthService, credentials: dict[str, str]
) -> None:
    await auth_service.register_confirmed(username="ada", email="ada@example.com")

    response = await auth_service.client.post("/auth/login", json=credentials)

    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "invalid_credentials",
        "message": "invalid login or password",
        "details": None,
    }


async def test_unconfirmed_account_cannot_log_in(auth_service: AuthService, sql) -> None:
    await auth_service.client.post(
        "/auth/register",
        json={"username": "ada", "email": "ada@example.com", "password": DEFAULT_PASSWORD},
    )

    response = await auth_service.client.post(
        "/auth/login", json={"login": "ada", "password": DEFAULT_PASSWORD}
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "email_not_confirmed"
    assert await sql.count("refresh_tokens") == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"login": "", "password": "x"}, "login"),
        ({"login": "ada", "password": ""}, "password"),
        ({"login": "ada", "password": "p" * 129}, "password"),
        ({"login": "ada", "password": "x", "remember": True}, "remember"),
        ({"password": "x"}, "login"),
    ],
)
async def test_bad_login_request_names_the_field(
    auth_service: AuthService, sql, body: dict[str, object], field: str
) -> None:
    response = await auth_service.client.post("/auth/login", json=body)

    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == field
    assert await sql.count("rate_limit_hits") == 0


async def test_refresh_rotates_the_pair_within_the_same_session(auth_service: AuthService) -> None:
    pair = await auth_service.register_confirmed(username="ada", email="ada@example.com")

    response = await auth_service.client.post(
        "/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )

    assert response.status_code == 200
    rotated = response.json()
    assert rotated["refresh_token"] != pair["refresh_token"]
    verifier = await verifier_for(auth_service)
    before = await verifier.verify(pair["access_token"])
    after = await verifier.verify(rotated["access_token"])
    assert after.session_id == before.session_id
    assert after.user_id == before.user_id
    again = await auth_service.client.post(
        "/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
    )
    assert again.status_code == 200


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_session(
    auth_service: AuthService,
) -> None:
    pair = await auth_service.register_confirmed(username="ada", email="ada@example.com")
    stolen = pair["refresh_token"]
    rotated = (
        await auth_service.client.post("/auth/refresh", json={"refresh_token": stolen})
    ).json()

    reuse = await auth_service.client.post("/auth/refresh", json={"refresh_token": stolen})
    legit = await auth_service.client.post(
        "/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
    )

    assert reuse.status_code == 401
    assert reuse.json()["error"]["code"] == "refresh_token_reused"
    assert legit.status_code == 401
    assert legit.json()["error"]["code"] == "invalid_refresh_token"
    assert legit.json()["error"]["details"] == {"reason": "revoked"}


async def test_reuse_leaves_other_sessions_alone(auth_service: AuthService) -> None:
    first = await auth_service.register_confirmed(username="ada", email="ada@example.com")
    other = (
        await auth_service.client.post(
            "/auth/login", json={"login": "ada", "password": DEFAULT_PASSWORD}
        )
    ).json()
    await auth_service.client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    await auth_service.client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})

    response = await auth_service.client.post(
        "/auth/refresh", json={"refresh_token": other["refresh_token"]}
    )

    assert response.status_code == 200


@pytest.mark.parametrize("token", ["unknown-token", "x" * 128])
async def test_unknown_refresh_token_is_rejected(auth_service: AuthService, token: str) -> None:
    response = await auth_service.client.post("/auth/refresh", json={"refresh_token": token})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_refresh_token"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_over_long_refresh_token_names_the_field(auth_service: AuthService) -> None:
    response = await auth_service.client.post("/auth/refresh", json={"refresh_token": "x" * 129})

    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "refresh_token"


async def test_expired_refresh_token_is_rejected(auth_service: AuthService, sql) -> None:
    pair = await auth_service.register_confirmed(username="ada", email="ada@example.com")
    await sql.execute("UPDATE refresh_tokens SET expires_at = now() - interval '1 second'")

    response = await auth_service.client.post(
        "/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )

    assert response.status_code == 401
    assert response.json()["error"]["details"] == {"reason": "expired"}


async def test_logout_revokes_the_session(auth_service: AuthService) -> None:
    pair = await auth_service.register_confirmed(username="ada", email="ada@example.com")

    response = await auth_service.client.post(
        "/auth/logout", json={"refresh_token": pair["refresh_token"]}
    )
    refresh = await auth_service.client.post(
        "/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    twice = await auth_service.client.post(
        "/auth/logout", json={"refresh_token": pair["refresh_token"]}
    )

    assert response.status_code == 204
    assert response.content == b""
    assert refresh.status_code == 401
    assert refresh.json()["error"]["details"] == {"reason": "revoked"}
    assert twice.status_code == 204


async def test_logout_after_rotation_ends_the_rotated_successor_too(
    auth_service: AuthService,
) -> None:
    pair = await auth_service.register_confirmed(username="ada", email="ada@example.com")
    rotated = (
        await auth_service.client.post(
            "/auth/refresh", json={"refresh_token": pair["refresh_token"]}
        )
    ).json()

    await auth_service.client.post("/auth/logout", json={"refresh_token": rotated["refresh_token"]})
    response = await auth_service.client.post(
        "/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
    )

    assert response.status_code == 401


async def test_logout_with_an_unknown_token_is_rejected(auth_service: AuthService) -> None:
    response = await auth_service.client.post("/auth/logout", json={"refresh_token": "nope"})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_refresh_token"


async def test_tokens_from_the_fixture_helper_are_accepted_everywhere(
    auth_service: AuthService,
) -> None:
    from tests.fixtures import accounts

    account = await accounts.create_account(
        auth_service.config.pg_dsn, auth_service.config.jwt_keys_dir
    )
    verifier = await verifier_for(auth_service)

    claims = await verifier.verify(account.access_token)
    login = await auth_service.client.post(
        "/auth/login", json={"login": account.username, "password": account.password}
    )
    refresh = await auth_service.client.post(
        "/auth/refresh", json={"refresh_token": account.refresh_token}
    )

    assert claims.user_id == account.user_id
    assert claims.session_id == str(account.session_id)
    assert login.status_code == 200
    assert refresh.status_code == 200
    with pytest.raises(errors.Unauthorized):
        await verifier.verify(account.access_token + "x")
