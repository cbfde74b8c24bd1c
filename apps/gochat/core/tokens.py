"""Access-token verification from the auth service's JWKS, shared by api and ws.

Keys are fetched once and re-fetched when a token names an unknown `kid` (at most every
`refresh_interval` seconds), so a key rotated in by the auth service is picked up without restarts
and a flood of bogus kids cannot hammer the JWKS endpoint.

A client sends the same access token with every request until it expires, and checking the
Ed25519 signature was a tenth of the API's CPU per request (bench/api/FINDINGS.md). So tokens
that passed are remembered (`VerifiedTokens`): a later request with the same token string is
answered from memory while the token's `exp` is in the future and the key that signed it is
still the one the JWKS holds under its kid. Nothing else about a token can change (the claims
are signed), so the answer is the one a full check would give; a failed check is never
remembered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from jwt.algorithms import OKPAlgorithm

from gochat.core import errors

ALGORITHM = "EdDSA"

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: int
    session_id: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class _Verified:
    claims: AccessClaims
    kid: str
    key: Any  # the very key object that checked the signature


class VerifiedTokens:
    """The most recently used verified tokens, at most `capacity` (least recently used go
    first). An entry is only returned while its token is unexpired and its kid still maps to
    the key object that verified it: a key dropped from (or replaced in) the JWKS takes every
    token it signed with it."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, _Verified] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str, *, keys: dict[str, Any], now: float) -> AccessClaims | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        # PyJWT refuses a token once `exp <= now` (no leeway): the same boundary here.
        if entry.claims.expires_at <= now or keys.get(entry.kid) is not entry.key:
            del self._entries[token]
            return None
        self._entries.move_to_end(token)
        return entry.claims

    def put(self, token: str, entry: _Verified) -> None:
        if self._capacity <= 0:
            return
        self._entries[token] = entry
        self._entries.move_to_end(token)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)


class TokenVerifier:
    def __init__(
        self,
        *,
        jwks_url: str,
        issuer: str,
        refresh_interval: float = 30.0,
        client: httpx.AsyncClient | None = None,
        cache_size: int = 10_000,
    ) -> None:
        self._jwks_url = jwks_url
        self._issuer = issuer
        self._refresh_interval = refresh_interval
        self._client = client
        self._keys: dict[str, Any] = {}
        self._jwks_by_kid: dict[str, str] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()
        self.verified = VerifiedTokens(cache_size)

    def load_jwks(self, jwks: dict[str, Any]) -> None:
        """Install keys from a JWKS document (also used by tests and by auth itself). A kid
        whose key is unchanged keeps its key object, so the tokens it verified stay cached."""
        keys: dict[str, Any] = {}
        by_kid: dict[str, str] = {}
        for jwk in jwks.get("keys", []):
            if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519" and "kid" in jwk:
                kid, text = jwk["kid"], json.dumps(jwk, sort_keys=True)
                unchanged = self._jwks_by_kid.get(kid) == text
                keys[kid] = self._keys[kid] if unchanged else OKPAlgorithm.from_jwk(text)
                by_kid[kid] = text
        self._keys, self._jwks_by_kid = keys, by_kid
        self._fetched_at = time.monotonic()

    async def refresh(self) -> None:
        async with self._lock:
            await self._fetch()

    async def prefetch(self) -> None:
        """Fetch the keys at start-up, so the first requests do not wait for them (nor for
        this client's TLS set-up). Best effort: the auth service may not be up yet, and a
        token with an unknown kid fetches them anyway."""
        try:
            await self.refresh()
        except (httpx.HTTPError, ValueError) as exc:
            # Info, not a warning: `make dev` starts every service at once, auth included.
            log.info(
                "signing keys not fetched at start-up; fetched on first use",
                extra={"error": str(exc)},
            )

    async def _fetch(self) -> None:
        if self._client is None:
            # One client for the verifier's life: a connect storm must not open a socket each.
            self._client = httpx.AsyncClient(timeout=5.0)
        response = await self._client.get(self._jwks_url)
        response.raise_for_status()
        self.load_jwks(response.json())

    async def _refresh_for(self, kid: str) -> None:
        """Fetch keys for an unknown kid, once for everyone asking at the same moment."""
        async with self._lock:
            if kid in self._keys or time.monotonic() - self._fetched_at <= self._refresh_interval:
                return  # another caller fetched while we waited, or fetched too recently
            await self._fetch()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def verify(self, token: str) -> AccessClaims:
        """Claims of a valid access token; Unauthorized for anything else."""
        remembered = self.verified.get(token, keys=self._keys, now=time.time())
        if remembered is not None:
            return remembered
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise errors.Unauthorized("malformed token") from None
        if header.get("alg") != ALGORITHM:
            raise errors.Unauthorized("unsupported token algorithm")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise errors.Unauthorized("token has no key id")
        if kid not in self._keys and time.monotonic() - self._fetched_at > self._refresh_interval:
            try:
                await self._refresh_for(kid)
            except (httpx.HTTPError, ValueError) as exc:
                raise errors.Unavailable(f"cannot fetch signing keys: {exc}") from None
        key = self._keys.get(kid)
        if key is None:
            raise errors.Unauthorized("token signed by an unknown key")
        claims = decode_access_token(token, key=key, issuer=self._issuer)
        self.verified.put(token, _Verified(claims, kid, key))
        return claims


def decode_access_token(token: str, *, key: Any, issuer: str) -> AccessClaims:
    try:
        claims = jwt.decode(
            token,
            key=key,
            algorithms=[ALGORITHM],
            issuer=issuer,
            options={"require": ["exp", "iat", "sub", "iss", "sid", "typ"]},
        )
    except jwt.ExpiredSignatureError:
        raise errors.Unauthorized("token expired") from None
    except jwt.PyJWTError:
        raise errors.Unauthorized("invalid token") from None
    if claims.get("typ") != "access" or not str(claims["sub"]).isdigit():
        raise errors.Unauthorized("not an access token")
    return AccessClaims(
        user_id=int(claims["sub"]), session_id=str(claims["sid"]), expires_at=int(claims["exp"])
    )
