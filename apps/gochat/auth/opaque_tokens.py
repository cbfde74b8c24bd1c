"""Opaque bearer secrets (mail tokens, refresh tokens): 256 random bits, stored as SHA-256.

A fast hash is enough here: unlike passwords the secrets are random, so a leaked digest cannot
be brute-forced back into a usable token."""

from __future__ import annotations

import hashlib
import secrets

MAX_LENGTH = 128  # what request models accept; issued tokens are 43 characters


def new_token() -> str:
    return secrets.token_urlsafe(32)


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
