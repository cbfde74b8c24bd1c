"""Access-token verification against a JWKS, and how often the JWKS is fetched."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from gochat.core import errors, tokens


def _jwk(key: Ed25519PrivateKey, kid: str) -> dict[str, str]:
    jwk = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": "EdDSA", "use": "sig"}


def _token(key: Ed25519PrivateKey, kid: str, **claims: object) -> str:
    now = int(time.time())
    body = {
        "iss": "gochat",
        "sub": "42",
        "sid": "7",
        "iat": now,
        "exp": now + 60,
        "typ": "access",
        **claims,
    }
    return jwt.encode(body, key, algorithm="EdDSA", headers={"kid": kid})


class _AuthService:
    """Serves one key's JWKS to a verifier through a mock transport, counting the fetches."""

    def __init__(self, key: Ed25519PrivateKey, kid: str, *, delay: float = 0.0) -> None:
        self.jwks = {"keys": [_jwk(key, kid)]}
        self.delay = delay
        self.fetches = 0

    async def _serve(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        await asyncio.sleep(self.delay)
        return httpx.Response(200, json=self.jwks)

    def verifier(self) -> tokens.TokenVerifier:
        client = httpx.AsyncClient(transport=httpx.MockTransport(self._serve))
        return tokens.TokenVerifier(jwks_url="http://auth/jwks", issuer="gochat", client=client)


async def test_a_burst_of_unknown_kids_fetches_the_jwks_once() -> None:
    key = Ed25519PrivateKey.generate()
    # A slow auth service: callers pile up behind the lock.
    auth = _AuthService(key, "new", delay=0.05)
    verifier = auth.verifier()
    token = _token(key, "new")
    results = await asyncio.gather(*[verifier.verify(token) for _ in range(50)])
    assert {r.user_id for r in results} == {42}
    assert auth.fetches == 1
    await verifier.aclose()


async def test_forged_tokens_are_rejected() -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    verifier = tokens.TokenVerifier(
        jwks_url="http://unused", issuer="gochat", refresh_interval=3600
    )
    verifier.load_jwks({"keys": [_jwk(key, "k1")]})
    assert (await verifier.verify(_token(key, "k1"))).session_id == "7"
    forged = [
        _token(other, "k1"),  # signed by an unknown key under a known kid
        _token(key, "k1", exp=int(time.time()) - 10),  # expired
        _token(key, "k1", typ="refresh"),  # not an access token
        _token(key, "k1", iss="someone-else"),
        jwt.encode({"sub": "42"}, None, algorithm="none"),  # type: ignore[arg-type]
    ]
    for token in forged:
        with pytest.raises(errors.Unauthorized):
            await verifier.verify(token)
    with pytest.raises(errors.Unauthorized, match="unknown key"):
        await verifier.verify(_token(key, "k2"))  # no refetch within the interval


def _verifier(
    *keys: tuple[Ed25519PrivateKey, str], cache_size: int = 10_000
) -> tokens.TokenVerifier:
    verifier = tokens.TokenVerifier(
        jwks_url="http://unused", issuer="gochat", refresh_interval=3600, cache_size=cache_size
    )
    verifier.load_jwks({"keys": [_jwk(key, kid) for key, kid in keys]})
    return verifier


def _count_signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    checked: list[str] = []
    decode = tokens.decode_access_token

    def counting(token: str, **kw: object) -> tokens.AccessClaims:
        checked.append(token)
        return decode(token, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(tokens, "decode_access_token", counting)
    return checked


async def test_a_token_seen_before_is_not_checked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    checked = _count_signature_checks(monkeypatch)
    key = Ed25519PrivateKey.generate()
    verifier = _verifier((key, "k1"))
    token = _token(key, "k1")
    first = await verifier.verify(token)
    assert [await verifier.verify(token) for _ in range(3)] == [first] * 3
    assert len(checked) == 1


async def test_a_cached_token_is_refused_once_it_expires() -> None:
    key = Ed25519PrivateKey.generate()
    verifier = _verifier((key, "k1"))
    expires = int(time.time()) + 1
    token = _token(key, "k1", exp=expires)
    await verifier.verify(token)
    assert len(verifier.verified) == 1
    await asyncio.sleep(max(0.0, expires - time.time()) + 0.05)
    with pytest.raises(errors.Unauthorized, match="expired"):
        await verifier.verify(token)
    assert len(verifier.verified) == 0


async def test_a_kid_dropped_from_the_jwks_takes_its_cached_tokens_with_it() -> None:
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    verifier = _verifier((old, "k1"), (new, "k2"))
    old_token, new_token = _token(old, "k1"), _token(new, "k2")
    await verifier.verify(old_token)
    await verifier.verify(new_token)
    verifier.load_jwks({"keys": [_jwk(new, "k2")]})  # k1 rotated out
    with pytest.raises(errors.Unauthorized, match="unknown key"):
        await verifier.verify(old_token)
    assert (await verifier.verify(new_token)).user_id == 42  # an unchanged kid stays cached
    assert len(verifier.verified) == 1


async def test_a_kid_given_a_new_key_refuses_tokens_the_old_key_signed() -> None:
    old, replacement = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    verifier = _verifier((old, "k1"))
    token = _token(old, "k1")
    await verifier.verify(token)
    verifier.load_jwks({"keys": [_jwk(replacement, "k1")]})
    with pytest.raises(errors.Unauthorized, match="invalid token"):
        await verifier.verify(token)
    assert (await verifier.verify(_token(replacement, "k1"))).user_id == 42


async def test_the_cache_keeps_the_most_recently_used_tokens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = Ed25519PrivateKey.generate()
    verifier = _verifier((key, "k1"), cache_size=2)
    a, b, c = (_token(key, "k1", sid=name) for name in "abc")
    for token in (a, b, a, c):  # a was used after b, so b is the one to go
        await verifier.verify(token)
    checked = _count_signature_checks(monkeypatch)
    for token in (a, c, b):
        await verifier.verify(token)
    assert checked == [b]
    assert len(verifier.verified) == 2


async def test_refused_tokens_are_not_remembered() -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    verifier = _verifier((key, "k1"))
    forged = _token(other, "k1")
    for _ in range(2):
        with pytest.raises(errors.Unauthorized):
            await verifier.verify(forged)
    assert len(verifier.verified) == 0


async def test_keys_fetched_at_start_up_serve_the_first_token_without_a_fetch() -> None:
    key = Ed25519PrivateKey.generate()
    auth = _AuthService(key, "k1")
    verifier = auth.verifier()
    await verifier.prefetch()
    assert auth.fetches == 1
    assert (await verifier.verify(_token(key, "k1"))).user_id == 42
    assert auth.fetches == 1


async def test_an_auth_service_not_up_yet_does_not_stop_the_start_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    caplog.set_level(logging.INFO, logger="gochat.core.tokens")
    client = httpx.AsyncClient(transport=httpx.MockTransport(down))
    verifier = tokens.TokenVerifier(jwks_url="http://auth/jwks", issuer="gochat", client=client)
    await verifier.prefetch()
    assert "signing keys not fetched at start-up" in caplog.text
