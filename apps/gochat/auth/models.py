"""Request and response bodies of the auth API: they validate input and document the API."""

from __future__ import annotations

from typing import Annotated, Literal

import email_validator
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from gochat.auth import opaque_tokens
from gochat.core import schemas

MAX_EMAIL_LENGTH = 254  # RFC 5321 path limit


def _valid_email(value: str) -> str:
    try:
        return email_validator.validate_email(value, check_deliverability=False).normalized
    except email_validator.EmailNotValidError as exc:
        raise ValueError(f"not a valid e-mail address: {exc}") from None


Username = Annotated[
    str,
    StringConstraints(min_length=2, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$"),
    schemas.STORABLE,
    Field(description="2-32 characters: letters, digits, `_`, `.`, `-`.", examples=["ada"]),
]
Email = Annotated[
    str,
    StringConstraints(min_length=3, max_length=MAX_EMAIL_LENGTH),
    schemas.STORABLE,
    AfterValidator(_valid_email),
    Field(examples=["ada@example.com"], json_schema_extra={"format": "email"}),
]
NewPassword = Annotated[
    str,
    StringConstraints(min_length=8, max_length=128),
    schemas.STORABLE,
    Field(description="8-128 characters.", examples=["correct horse battery"]),
]
# Passwords set before a policy change must still log in, so only the upper bound is checked.
PresentedPassword = Annotated[
    str, StringConstraints(min_length=1, max_length=128), schemas.STORABLE
]
OpaqueToken = Annotated[
    str, StringConstraints(min_length=1, max_length=opaque_tokens.MAX_LENGTH), schemas.STORABLE
]


class Request(BaseModel):
    """Unknown fields refused, types strict (a number is not a string), every text through
    `schemas.STORABLE` (no NUL, no lone surrogate: 422 naming the field)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class RegisterRequest(Request):
    username: Username
    email: Email
    password: NewPassword


class TokenRequest(Request):
    token: OpaqueToken = Field(description="The token from the mail (its `Token:` line).")


class EmailRequest(Request):
    email: Email


class LoginRequest(Request):
    login: Annotated[
        str, StringConstraints(min_length=1, max_length=MAX_EMAIL_LENGTH), schemas.STORABLE
    ] = Field(description="Username or e-mail address.")
    password: PresentedPassword


class RefreshRequest(Request):
    refresh_token: OpaqueToken


class PasswordResetConfirmRequest(Request):
    token: OpaqueToken
    new_password: NewPassword


class PasswordChangeRequest(Request):
    current_password: PresentedPassword
    new_password: NewPassword


class TokenPair(BaseModel):
    access_token: str = Field(description="EdDSA JWT; verify with /.well-known/jwks.json.")
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str = Field(description="Single use: each refresh returns its successor.")
    user: schemas.User


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"


class Jwk(BaseModel):
    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str
    kid: str
    use: Literal["sig"]
    alg: Literal["EdDSA"]


class Jwks(BaseModel):
    keys: list[Jwk]
