"""Access-token verification against a JWKS, and how often the JWKS is fetched."""

from __future__ import annotations

import asyncio
import json
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


async def test_a_burst_of_unknown_kids_fetches_the_jwks_once() -> None:
    key = Ed25519PrivateKey.generate()
    fetches = 0

    async def jwks(request: httpx.Request) -> httpx.Response:
        nonlocal fetches
        fetches += 1
        await asyncio.sleep(0.05)  # a slow auth service: callers pile up behind the lock
        return httpx.Response(200, json={"keys": [_jwk(key, "new")]})

    client = httpx.AsyncClient(transport=httpx.MockTransport(jwks))
    verifier = tokens.TokenVerifier(jwks_url="http://auth/jwks", issuer="gochat", client=client)
    token = _token(key, "new")
    results = await asyncio.gather(*[verifier.verify(token) for _ in range(50)])
    assert {r.user_id for r in results} == {42}
    assert fetches == 1
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
