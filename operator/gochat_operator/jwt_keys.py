"""Ed25519 signing keys for the auth service: generate once, check what exists."""

from __future__ import annotations

import base64
import binascii
import datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519


def generate(*, now: datetime.datetime | None = None) -> tuple[str, str]:
    """A new key as (kid, PKCS8 PEM). The kid is dated so rotations sort naturally."""
    now = now or datetime.datetime.now(datetime.UTC)
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    ).decode()
    return f"gochat-{now:%Y%m%d%H%M%S}", pem


def problems(data: dict[str, str]) -> list[str]:
    """What is wrong with a JWT Secret's `data` (base64 values); empty when usable."""
    pem_keys = sorted(key for key in data if key.endswith(".pem"))
    if not pem_keys:
        return ["has no <kid>.pem key"]
    found = []
    for key in pem_keys:
        try:
            loaded = serialization.load_pem_private_key(base64.b64decode(data[key]), password=None)
        except (ValueError, TypeError, binascii.Error):
            found.append(f"key {key!r} is not a PEM private key")
            continue
        if not isinstance(loaded, ed25519.Ed25519PrivateKey):
            found.append(f"key {key!r} is not an Ed25519 key")
    return found
