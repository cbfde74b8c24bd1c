"""Access tokens as api and ws see them: verified with `gochat.core.tokens` from the JWKS.

Every forgery is also tried on the auth service's own bearer endpoint (password change)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from gochat.auth import keys
from gochat.core import errors, tokens
from tests.fixtures import accounts
from tests.fixtures.accounts import DEFAULT_PASSWORD, AuthService


async def verifier_for(auth_service: AuthService) -> tokens.TokenVerifier:
    verifier = tokens.TokenVerifier(
        jwks_url="http://auth.test/.well-known/jwks.json",
        issuer="gochat",
        refresh_interval=0,
        client=auth_service.client,
    )
    await verifier.refresh()
    return verifier


def key_files(directory: str) -> list[str]:
    return sorted(path.stem for path in Path(directory).glob("*.pem"))


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forge(valid: str, kind: str, key_dir: Path) -> str:
    """A token that must be refused, built from a valid one."""
    header = jwt.get_unverified_header(valid)
    claims = jwt.decode(valid, options={"verify_signature": False})
    ring = keys.KeyRing.load_or_create(key_dir)
    if kind == "expired":
        return ring.sign_access_token(
            user_id=int(claims["sub"]),
            session_id=int(claims["sid"]),
            issuer="gochat",
            issued_at=datetime.now(UTC) - timedelta(hours=1),
            ttl_seconds=60,
        )
    if kind == "unknown_key":
        stranger = ed25519.Ed25519PrivateKey.generate()
        return jwt.encode(claims, stranger, algorithm="EdDSA", headers={"kid": "stranger"})
    if kind == "wrong_kid":
        # Signed by a key we do not know, but naming the kid of one we do.
        stranger = ed25519.Ed25519PrivateKey.generate()
        return jwt.encode(claims, stranger, algorithm="EdDSA", headers={"kid": header["kid"]})
    if kind == "alg_none":
        return f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': header['kid']})}.{_b64(claims)}."
    if kind == "tampered":
        head, _, signature = valid.split(".")
        return f"{head}.{_b64(claims | {'sub': str(int(claims['sub']) + 1)})}.{signature}"
    if kind == "wrong_issuer":
        ring_key = ring.active
        return jwt.encode(
            claims | {"iss": "elsewhere"},
            ring_key.private_key,
            algorithm="EdDSA",
            headers={"kid": ring_key.kid},
        )
    if kind == "not_access":
        ring_key = ring.active
        return jwt.encode(
            claims | {"typ": "refresh"},
            ring_key.private_key,
            algorithm="EdDSA",
            headers={"kid": ring_key.kid},
        )
    if kind == "no_kid":
        return jwt.encode(claims, ring.active.private_key, algorithm="EdDSA")
    raise AssertionError(kind)


FORGERIES = [
    "expired",
    "unknown_key",
    "wrong_kid",
    "alg_none",
    "tampered",
    "wrong_issuer",
    "not_access",
    "no_kid",
]


@pytest.mark.parametrize("kind", FORGERIES)
async def test_forged_or_stale_access_tokens_are_rejected(
    auth_service: AuthService, kind: str
) -> None:
    pair = await auth_service.register_confirmed(username="ada", email="ada@example.com")
    verifier = await verifier_for(auth_service)
    await verifier.verify(pair["access_token"])  # the original is fine
    bad = forge(pair["access_token"], kind, Path(auth_service.config.jwt_keys_dir))

    with pytest.raises(errors.Unauthorized):
        await verifier.verify(bad)
    response = await auth_service.client.post(
        "/auth/password/change",
        json={"current_password": DEFAULT_PASSWORD, "new_password": "new password here"},
        headers={"Authorization": f"Bearer {bad}"},
    )
    assert response.status_code == 401


async def test_jwks_publishes_every_key_as_okp_ed25519(auth_service: AuthService) -> None:
    response = await auth_service.client.get("/.well-known/jwks.json")

    assert response.status_code == 200
    [key] = response.json()["keys"]
    assert key.keys() == {"kty", "crv", "x", "kid", "use", "alg"}
    assert (key["kty"], key["crv"], key["use"], key["alg"]) == ("OKP", "Ed25519", "sig", "EdDSA")
    assert key_files(auth_service.config.jwt_keys_dir) == [key["kid"]]


async def test_rotation_signs_with_the_newest_key_and_old_tokens_still_verify(
    migrated_database: str, tmp_path: Path
) -> None:
    cfg = accounts.auth_config(migrated_database, tmp_path)
    keys.generate_key(cfg.jwt_keys_dir, kid="2026-01-old")
    async with accounts.serve_auth(cfg) as before:
        old_pair = await before.register_confirmed(username="ada", email="ada@example.com")
    keys.generate_key(cfg.jwt_keys_dir, kid="2026-02-new")

    async with accounts.serve_auth(cfg) as after:
        jwks = (await after.client.get("/.well-known/jwks.json")).json()
        new_pair = (
            await after.client.post(
                "/auth/refresh", json={"refresh_token": old_pair["refresh_token"]}
            )
        ).json()
        verifier = await verifier_for(after)

        assert [k["kid"] for k in jwks["keys"]] == ["2026-01-old", "2026-02-new"]
        assert jwt.get_unverified_header(old_pair["access_token"])["kid"] == "2026-01-old"
        assert jwt.get_unverified_header(new_pair["access_token"])["kid"] == "2026-02-new"
        await verifier.verify(old_pair["access_token"])
        await verifier.verify(new_pair["access_token"])


async def test_the_active_kid_setting_picks_the_signing_key(
    migrated_database: str, tmp_path: Path
) -> None:
    cfg = accounts.auth_config(migrated_database, tmp_path, jwt_active_kid="a-first")
    keys.generate_key(cfg.jwt_keys_dir, kid="a-first")
    keys.generate_key(cfg.jwt_keys_dir, kid="b-second")

    async with accounts.serve_auth(cfg) as service:
        pair = await service.register_confirmed(username="ada", email="ada@example.com")

    assert jwt.get_unverified_header(pair["access_token"])["kid"] == "a-first"


async def test_a_key_added_while_running_is_published_after_reload(
    auth_service: AuthService,
) -> None:
    keys.generate_key(auth_service.config.jwt_keys_dir, kid="zzzz-rotated-in")

    assert auth_service.app.state.auth.keys.reload()
    jwks = (await auth_service.client.get("/.well-known/jwks.json")).json()

    assert "zzzz-rotated-in" in {k["kid"] for k in jwks["keys"]}


async def test_a_token_signed_by_a_key_added_moments_ago_is_accepted_by_auth_itself(
    auth_service: AuthService,
) -> None:
    account = await accounts.create_account(
        auth_service.config.pg_dsn, auth_service.config.jwt_keys_dir
    )
    keys.generate_key(auth_service.config.jwt_keys_dir, kid="zzzz-newer")
    # As another replica would, sign with the new key before this one reloaded its folder.
    token = keys.KeyRing(Path(auth_service.config.jwt_keys_dir)).sign_access_token(
        user_id=account.user_id,
        session_id=account.session_id,
        issuer="gochat",
        issued_at=datetime.now(UTC),
        ttl_seconds=60,
    )

    response = await auth_service.client.post(
        "/auth/password/change",
        json={"current_password": account.password, "new_password": "brand new password"},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert jwt.get_unverified_header(token)["kid"] == "zzzz-newer"
    assert response.status_code == 204
