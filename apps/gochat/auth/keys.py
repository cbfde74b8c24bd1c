"""The Ed25519 signing keys: `<kid>.pem` files (PKCS8) in `jwt_keys_dir`.

Every key in the folder is published in the JWKS, so tokens signed by a key that is being
rotated out keep verifying until the operator removes its file; new tokens are signed by
`jwt_active_kid`, or by the newest key by file name. The folder is re-read when its listing or
a file's mtime changes, so a rotated Kubernetes Secret takes effect without a restart.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from jwt.algorithms import OKPAlgorithm

from gochat.core import tokens

log = logging.getLogger(__name__)
_KID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class KeyFolderError(Exception):
    """The key folder cannot provide a signing key (missing active kid, unreadable file)."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private_key: ed25519.Ed25519PrivateKey

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = OKPAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": tokens.ALGORITHM}


class KeyRing:
    def __init__(self, directory: Path, *, active_kid: str | None = None) -> None:
        self._directory = directory
        self._active_kid = active_kid
        self._keys: dict[str, SigningKey] = {}
        self._fingerprint: tuple[tuple[str, int], ...] | None = None  # None: never loaded
        self.reload()

    @classmethod
    def load_or_create(cls, directory: str | Path, *, active_kid: str | None = None) -> KeyRing:
        """The ring for `directory`, generating a first key when it holds none (`make dev`);
        never when a specific `active_kid` is asked for (its absence is a deployment error)."""
        folder = Path(directory)
        if active_kid is None and not any(folder.glob("*.pem")):
            generate_key(folder)
        return cls(folder, active_kid=active_kid)

    @property
    def active(self) -> SigningKey:
        kid = self._active_kid or max(self._keys)
        return self._keys[kid]

    def public_key(self, kid: str) -> ed25519.Ed25519PublicKey | None:
        key = self._keys.get(kid)
        return key.private_key.public_key() if key else None

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self._keys[kid].public_jwk() for kid in sorted(self._keys)]}

    def reload(self) -> bool:
        """Re-read the folder if it changed; True when the keys were replaced. A folder that
        lost every key, or its active one, keeps the previous keys (and says so in the log)."""
        fingerprint = _fingerprint(self._directory)
        if fingerprint == self._fingerprint:
            return False
        try:
            keys = {
                kid: SigningKey(kid, _read_key(path)) for kid, path in _key_files(self._directory)
            }
            problem = _problem_with(keys, self._active_kid, self._directory)
        except KeyFolderError as exc:
            keys, problem = {}, str(exc)
        if problem:
            if not self._keys:
                raise KeyFolderError(problem)
            log.error("keeping the previous signing keys", extra={"reason": problem})
            return False
        self._keys, self._fingerprint = keys, fingerprint
        log.info("signing keys loaded", extra={"kids": sorted(keys), "active": self.active.kid})
        return True

    def sign_access_token(
        self, *, user_id: int, session_id: int, issuer: str, issued_at: datetime, ttl_seconds: int
    ) -> str:
        """An access JWT carrying exactly the claims `gochat.core.tokens` verifies."""
        iat = int(issued_at.timestamp())
        claims = {
            "iss": issuer,
            "sub": str(user_id),
            "sid": str(session_id),
            "iat": iat,
            "exp": iat + ttl_seconds,
            "typ": "access",
        }
        key = self.active
        return jwt.encode(
            claims, key.private_key, algorithm=tokens.ALGORITHM, headers={"kid": key.kid}
        )


def generate_key(directory: str | Path, *, kid: str | None = None) -> Path:
    """Write a new Ed25519 key readable by its owner only; its kid sorts after older ones."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    kid = kid or f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    path = folder / f"{kid}.pem"
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
    log.info("generated a signing key", extra={"kid": kid, "path": str(path)})
    return path


def _key_files(directory: Path) -> list[tuple[str, Path]]:
    files = []
    for path in sorted(directory.glob("*.pem")):
        if _KID_PATTERN.match(path.stem):
            files.append((path.stem, path))
        else:
            log.warning("ignoring key file with an unusable name", extra={"path": str(path)})
    return files


def _fingerprint(directory: Path) -> tuple[tuple[str, int], ...]:
    return tuple((kid, path.stat().st_mtime_ns) for kid, path in _key_files(directory))


def _read_key(path: Path) -> ed25519.Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise KeyFolderError(f"{path}: not a readable unencrypted PEM key ({exc})") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise KeyFolderError(f"{path}: not an Ed25519 key")
    return key


def _problem_with(keys: dict[str, SigningKey], active_kid: str | None, folder: Path) -> str | None:
    if active_kid is not None and active_kid not in keys:
        return f"no key file {active_kid}.pem in {folder}"
    if not keys:
        return f"no <kid>.pem key in {folder}"
    return None
