"""Who calls `/api/v1`: an API client with a Bearer token (verified here, with the shared key),
or a person signed in to the console, whose browser sends the session cookie (looked up in the
auth service on every request, so a sign-out or an expiry holds at once).

Both get the same scopes: a `read` user what a `read` token gets, an `operate` user `read` and
`operate`. A cookie is sent by the browser on its own, so a request that changes anything with
it must also carry the session's CSRF token in a header, which only the console's own page can
read, and must not come from another origin."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
import jwt
from aiohttp import web

from chargeplane.common.httpclient import HTTP
from chargeplane.common.tokens import verify_token
from chargeplane.common.web import ApiError

from .routes import CSRF_HEADER, ROUTES, SESSION_COOKIE
from .settings import API_SETTINGS

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ROLE_SCOPES = {"read": ("read",), "operate": ("read", "operate")}

# (method, canonical path) -> the scope it needs
_SCOPES = {(r.method, r.path): r.scope for r in ROUTES}


@dataclass(frozen=True)
class Caller:
    kind: Literal["client", "user"]
    name: str  # the client id, or the user's name
    scopes: tuple[str, ...]
    session_id: str | None = None  # a user's
    session: dict[str, Any] | None = None  # a user's: role, csrf_token, expires_at


CALLER = web.RequestKey("caller", Caller)


def check_origin(request: web.Request) -> None:
    """Refuse a browser's request made from another site's page (its Origin names that site)."""
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        raise ApiError(403, "cross_origin", "This request came from another site's page and was refused.")


async def _bearer(request: web.Request, header: str) -> Caller:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "unauthorized", "send `Authorization: Bearer <token>` (POST /api/v1/auth/token)")
    settings = request.app[API_SETTINGS]
    try:
        claims = verify_token(token, settings.jwt_secret, settings.jwt_issuer)
    except jwt.InvalidTokenError as exc:
        raise ApiError(401, "invalid_token", f"the token is not valid: {exc}") from exc
    return Caller("client", str(claims["sub"]), tuple(str(claims.get("scope", "")).split()))


async def console_session(request: web.Request, session_id: str, *, used: bool) -> dict[str, Any]:
    """The live session (user, role, csrf_token, expires_at) from the auth service; an ended
    one is a 401."""
    url = request.app[API_SETTINGS].auth_url + "/internal/auth/console/session"
    try:
        async with request.app[HTTP].post(url, json={"session_id": session_id, "used": used}) as response:
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ApiError(503, "service_unavailable", "Sign-in is unavailable for the moment; try again.") from exc
    if response.status != 200:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        raise ApiError(response.status if response.status < 500 else 503, error.get("code", "session_ended"),
                       error.get("message", "Your session has ended; sign in again."))
    session: dict[str, Any] = body
    return session


async def _user(request: web.Request, session_id: str) -> Caller:
    check_origin(request)
    session = await console_session(request, session_id, used=True)
    if request.method not in SAFE_METHODS and not hmac.compare_digest(
            request.headers.get(CSRF_HEADER, "").encode(), session["csrf_token"].encode()):
        raise ApiError(403, "csrf_refused", "This change was refused: it did not carry the console's CSRF token. "
                       f"Reload the page and try again (API clients: send the `{CSRF_HEADER}` header).")
    return Caller("user", session["user"], ROLE_SCOPES[session["role"]], session_id, session)


async def _caller(request: web.Request) -> Caller:
    if header := request.headers.get("Authorization"):
        return await _bearer(request, header)
    if session_id := request.cookies.get(SESSION_COOKIE):
        return await _user(request, session_id)
    raise ApiError(401, "unauthorized", "Sign in (POST /api/v1/auth/session) or send `Authorization: Bearer "
                   "<token>` (POST /api/v1/auth/token).")


def _refusal(caller: Caller, needed: str) -> ApiError:
    if caller.kind == "user":
        assert caller.session is not None
        return ApiError(403, "insufficient_scope", f"You are signed in as {caller.name} with the "
                        f"{caller.session['role']!r} role, which may not do this: it needs the {needed!r} role.")
    return ApiError(403, "insufficient_scope", f"this needs the {needed!r} scope; the token has {list(caller.scopes)}")


@web.middleware
async def auth_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    route = request.match_info.route.resource
    canonical = route.canonical if route is not None else request.path
    needed = _SCOPES.get((request.method, canonical), "public")
    if needed != "public":
        caller = await _caller(request)
        if needed == "session" and caller.kind != "user":
            raise ApiError(401, "no_session", "This is about a console session: sign in (POST /api/v1/auth/session).")
        if needed != "session" and needed not in caller.scopes:
            raise _refusal(caller, needed)
        request[CALLER] = caller
    return await handler(request)
