"""JWT access tokens for API clients (client-credentials grant)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal, get_args

import jwt

from chargeplane.common.timeutil import utcnow

ALGORITHM = "HS256"
# What a client may do: `read` reads, `operate` also sends commands and changes id tags.
Scope = Literal["read", "operate"]
SCOPES: tuple[Scope, ...] = get_args(Scope)


def issue_token(client_id: str, scopes: list[str], secret: str, issuer: str, ttl_seconds: int) -> str:
    now = utcnow()
    claims = {"sub": client_id, "scope": " ".join(scopes), "iss": issuer, "iat": now,
              "exp": now + timedelta(seconds=ttl_seconds)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(token: str, secret: str, issuer: str) -> dict[str, Any]:
    """The token's claims; raises jwt.InvalidTokenError when forged, expired or foreign."""
    claims: dict[str, Any] = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=issuer,
                                        options={"require": ["exp", "sub", "iss"]})
    return claims
