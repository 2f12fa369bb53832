"""The auth service's views for the console's people: sign in, look up a session, sign out.

Only the api-gateway calls them; it keeps the session id in the browser's cookie. Session ids
and passwords are never logged."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from chargeplane.common.logs import get_logger
from chargeplane.common.web import ApiError, json_response, read_json

from .users import PASSWORD_MAX_LENGTH, USERS, ConsoleSession, SignInRefused

log = get_logger(__name__)


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)
    address: str | None = Field(default=None, max_length=100)  # the browser's, for the log


class SessionLookup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: str = Field(min_length=1, max_length=100)
    used: bool = True  # a request of the person's (not the live stream): the idle expiry moves


def _session_body(session: ConsoleSession) -> dict[str, Any]:
    return {"user": session.user, "role": session.role, "csrf_token": session.csrf_token,
            "expires_at": session.expires_at}


def _refusal(refused: SignInRefused) -> ApiError:
    if refused.reason == "busy":
        return ApiError(429, "sign_in_busy", "Another sign-in for this user is under way; try again in a moment.")
    if refused.reason == "locked":
        assert refused.locked_until is not None
        return ApiError(429, "user_locked", "Too many wrong passwords: this user is locked until "
                        f"{refused.locked_until:%H:%M} UTC. Try again then, or ask an administrator to reset the "
                        "password (`chargeplane user add`).", {"locked_until": refused.locked_until})
    if refused.locked_now:
        return ApiError(401, "invalid_credentials", "Wrong user name or password. That was too many wrong "
                        f"passwords: this user is locked until {refused.locked_until:%H:%M} UTC.",
                        {"locked_until": refused.locked_until})
    return ApiError(401, "invalid_credentials", "Wrong user name or password.")


async def sign_in(request: web.Request) -> web.Response:
    body = SignIn.model_validate(await read_json(request))
    outcome = await request.app[USERS].sign_in(body.name, body.password)
    if isinstance(outcome, SignInRefused):
        log.warning("console sign-in failed", user=body.name, reason=outcome.reason, address=body.address)
        if outcome.locked_now:
            log.warning("console user locked out", user=body.name, locked_until=outcome.locked_until,
                        address=body.address)
        raise _refusal(outcome)
    log.info("console user signed in", user=outcome.user, role=outcome.role, address=body.address)
    return json_response({"session_id": outcome.session_id, **_session_body(outcome)}, status=201)


async def get_session(request: web.Request) -> web.Response:
    body = SessionLookup.model_validate(await read_json(request))
    session = await request.app[USERS].session(body.session_id, used=body.used)
    if session is None:
        raise ApiError(401, "session_ended", "Your session has ended (signed out, unused too long, or past its "
                       "limit); sign in again.")
    return json_response(_session_body(session))


async def sign_out(request: web.Request) -> web.Response:
    body = SessionLookup.model_validate(await read_json(request))
    user = await request.app[USERS].sign_out(body.session_id)
    if user is not None:
        log.info("console user signed out", user=user)
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/internal/auth/console/sign-in", sign_in)
    app.router.add_post("/internal/auth/console/session", get_session)
    app.router.add_post("/internal/auth/console/sign-out", sign_out)
