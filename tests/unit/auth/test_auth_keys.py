"""Signing keys: the folder of `<kid>.pem` files, the JWKS, and tokens core.tokens accepts."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import OKPAlgorithm

from gochat.auth import keys
from gochat.core import errors, tokens

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def sign(ring: keys.KeyRing, *, issued_at: datetime = NOW, ttl: int = 900) -> str:
    return ring.sign_access_token(
        user_id=1234567890123, session_id=42, issuer="gochat", issued_at=issued_at, ttl_seconds=ttl
    )


def public_key(ring: keys.KeyRing, kid: str) -> object:
    [jwk] = [k for k in ring.jwks()["keys"] if k["kid"] == kid]
    return OKPAlgorithm.from_jwk(json.dumps(jwk))


def test_an_empty_folder_gets_one_owner_only_pkcs8_ed25519_key(tmp_path: Path) -> None:
    ring = keys.KeyRing.load_or_create(tmp_path / "jwt")

    [path] = (tmp_path / "jwt").glob("*.pem")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert ring.active.kid == path.stem
    keys.KeyRing.load_or_create(tmp_path / "jwt")
    assert len(list((tmp_path / "jwt").glob("*.pem"))) == 1


def test_generated_kids_sort_after_older_ones(tmp_path: Path) -> None:
    first = keys.generate_key(tmp_path)
    second = keys.generate_key(tmp_path, kid=f"{first.stem}-later")

    assert keys.KeyRing(tmp_path).active.kid == second.stem


def test_the_newest_key_by_name_signs_unless_one_is_named(tmp_path: Path) -> None:
    keys.generate_key(tmp_path, kid="2026-01")
    keys.generate_key(tmp_path, kid="2026-02")

    newest = keys.KeyRing(tmp_path)
    pinned = keys.KeyRing(tmp_path, active_kid="2026-01")

    assert jwt.get_unverified_header(sign(newest))["kid"] == "2026-02"
    assert jwt.get_unverified_header(sign(pinned))["kid"] == "2026-01"
    assert [k["kid"] for k in newest.jwks()["keys"]] == ["2026-01", "2026-02"]


def test_jwks_entries_are_okp_ed25519_signature_keys(tmp_path: Path) -> None:
    ring = keys.KeyRing.load_or_create(tmp_path)

    [jwk] = ring.jwks()["keys"]

    assert jwk == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": jwk["x"],
        "kid": ring.active.kid,
        "use": "sig",
        "alg": "EdDSA",
    }
    assert "d" not in jwk  # never the private part


def test_signed_tokens_carry_exactly_the_claims_core_tokens_verifies(tmp_path: Path) -> None:
    ring = keys.KeyRing.load_or_create(tmp_path)
    token = sign(ring, issued_at=datetime.now(UTC))

    claims = tokens.decode_access_token(
        token, key=public_key(ring, ring.active.kid), issuer="gochat"
    )

    assert claims.user_id == 1234567890123
    assert claims.session_id == "42"
    raw = jwt.decode(token, options={"verify_signature": False})
    assert raw.keys() == {"iss", "sub", "sid", "iat", "exp", "typ"}
    assert (raw["sub"], raw["sid"], raw["typ"]) == ("1234567890123", "42", "access")
    assert jwt.get_unverified_header(token) == {
        "alg": "EdDSA",
        "kid": ring.active.kid,
        "typ": "JWT",
    }


def test_expired_and_foreign_tokens_fail_core_verification(tmp_path: Path) -> None:
    ring = keys.KeyRing.load_or_create(tmp_path / "ours")
    other = keys.KeyRing.load_or_create(tmp_path / "theirs")
    our_key = public_key(ring, ring.active.kid)

    expired = sign(ring, issued_at=datetime.now(UTC) - timedelta(hours=2))
    foreign = sign(other, issued_at=datetime.now(UTC))

    for token in (expired, foreign):
        with pytest.raises(errors.Unauthorized):
            tokens.decode_access_token(token, key=our_key, issuer="gochat")


def test_a_missing_active_kid_is_an_error_and_generates_nothing(tmp_path: Path) -> None:
    with pytest.raises(keys.KeyFolderError, match=r"absent\.pem"):
        keys.KeyRing.load_or_create(tmp_path, active_kid="absent")

    assert list(tmp_path.iterdir()) == []


def test_a_non_ed25519_key_is_refused(tmp_path: Path) -> None:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (tmp_path / "ecdsa.pem").write_bytes(pem)

    with pytest.raises(keys.KeyFolderError, match="not an Ed25519 key"):
        keys.KeyRing(tmp_path)


def test_reload_picks_up_a_new_key_and_keeps_the_old_ones_when_the_folder_breaks(
    tmp_path: Path,
) -> None:
    keys.generate_key(tmp_path, kid="a")
    ring = keys.KeyRing(tmp_path)
    assert not ring.reload()  # unchanged

    keys.generate_key(tmp_path, kid="b")
    assert ring.reload()
    assert ring.active.kid == "b"

    (tmp_path / "c.pem").write_text("garbage")
    assert not ring.reload()
    assert [k["kid"] for k in ring.jwks()["keys"]] == ["a", "b"]


def test_files_with_unusable_names_are_ignored(tmp_path: Path) -> None:
    keys.generate_key(tmp_path, kid="good")
    (tmp_path / "bad name.pem").write_bytes((tmp_path / "good.pem").read_bytes())

    assert [k["kid"] for k in keys.KeyRing(tmp_path).jwks()["keys"]] == ["good"]
