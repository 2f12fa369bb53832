"""Bearer-token checks for `/api/v1`: tokens are verified here, with the shared key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import jwt
from aiohttp import web

from chargeplane.common.tokens import verify_token
from chargeplane.common.web import ApiError

from .routes import ROUTES
from .settings import API_SETTINGS

# (method, canonical path) -> the scope it needs
_SCOPES = {(r.method, r.path): r.scope for r in ROUTES}


@web.middleware
async def bearer_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    route = request.match_info.route.resource
    canonical = route.canonical if route is not None else request.path
    needed = _SCOPES.get((request.method, canonical), "public")
    if needed != "public":
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "unauthorized", "send `Authorization: Bearer <token>` (POST /api/v1/auth/token)")
        settings = request.app[API_SETTINGS]
        try:
            claims = verify_token(token, settings.jwt_secret, settings.jwt_issuer)
        except jwt.InvalidTokenError as exc:
            raise ApiError(401, "invalid_token", f"the token is not valid: {exc}") from exc
        scopes = str(claims.get("scope", "")).split()
        if needed not in scopes:
            raise ApiError(403, "insufficient_scope", f"this needs the {needed!r} scope; the token has {scopes}")
    return await handler(request)
