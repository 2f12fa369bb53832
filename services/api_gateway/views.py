"""Views of the public API: validate, forward to the owning service (a traced HTTP call),
and answer with its JSON. The api-gateway has no database of its own."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from aiohttp import ClientResponse, web

from chargeplane.common.httpclient import HTTP
from chargeplane.common.web import ApiError, json_response, read_json

from .auth import CALLER, ROLE_SCOPES, Caller, check_origin, console_session
from .live import STATION_FEED, event
from .routes import MAX_WATCHED_STATIONS, SESSION_COOKIE, STATION_ID, ApiRoute, openapi_document
from .settings import API_SETTINGS

MAX_ID = 2**63 - 1
MAX_INT32 = 2**31 - 1  # OCPP's integers
View = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _refuse_nul(path: str, params: dict[str, str] | None, body: Any) -> None:
    """PostgreSQL text cannot hold NUL: a request carrying one is the client's error, not a 500."""
    if "\x00" in path or any("\x00" in value for value in (params or {}).values()) or (
            body is not None and b"\\u0000" in orjson.dumps(body)):
        raise ApiError(400, "invalid_text", "text may not contain NUL characters")


# A route that waits for a station (`?timeout=`) waits this much longer for its service's
# answer, so the caller gets the service's 504 rather than the client's cut-off.
UPSTREAM_MARGIN_S = 5.0


@asynccontextmanager
async def _upstream(request: web.Request, method: str, url: str, **options: Any) -> AsyncIterator[ClientResponse]:
    try:
        async with request.app[HTTP].request(method, url, **options) as response:
            yield response
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ApiError(503, "service_unavailable", f"a ChargePlane service is unavailable: {exc!r}") from exc


async def _forward(request: web.Request, base_url: str, path: str, *, method: str = "GET",
                   params: dict[str, str] | None = None, body: Any = None,
                   wait_s: float | None = None) -> tuple[int, Any]:
    """The service's answer; `wait_s`: how long it may take, when longer than usual."""
    options: dict[str, Any] = {} if wait_s is None else {"timeout": aiohttp.ClientTimeout(total=wait_s)}
    _refuse_nul(path, params, body)
    async with _upstream(request, method, base_url + path, params=params,
                         json=body if body is not None else None, **options) as response:
        payload = await response.json(content_type=None) if response.status != 204 else None
        return response.status, payload


def _reply(status: int, payload: Any) -> web.Response:
    if status == 204:
        return web.Response(status=204)
    return json_response(payload, status=status)


def _query(request: web.Request, *names: str) -> dict[str, str]:
    return {name: request.query[name] for name in names if name in request.query}


def _int_param(request: web.Request, name: str, minimum: int = 1) -> int:
    try:
        value = int(request.match_info[name])
    except ValueError as exc:
        raise ApiError(400, f"invalid_{name}", f"{name} must be an integer") from exc
    if not minimum <= value <= MAX_ID:
        raise ApiError(404, "not_found", f"no such {name.removesuffix('_id')}")
    return value


def _service_url(request: web.Request, service: str) -> str:
    settings = request.app[API_SETTINGS]
    return settings.ocpp_http_url if service == "ocpp" else str(getattr(settings, f"{service}_url"))


def path_checked(route: ApiRoute, view: View) -> View:
    """`view`, refusing first a path parameter that does not match its schema's `pattern`:
    what the OpenAPI document promises, and nothing goes into an upstream URL unchecked."""
    patterns = {name: re.compile(schema["pattern"]) for name, schema in route.path_params if "pattern" in schema}
    if not patterns:
        return view

    async def checked(request: web.Request) -> web.StreamResponse:
        for name, pattern in patterns.items():
            if pattern.fullmatch(request.match_info[name]) is None:
                raise ApiError(400, f"invalid_{name}", f"{name} must match {pattern.pattern}")
        return await view(request)

    return checked


def forwarder(route: ApiRoute) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The view of a route that is a plain forward: same method, its query names, its body."""
    assert route.upstream is not None
    service, template = route.upstream
    query_names = [name for name, _ in route.query]
    station_wait = next((schema for name, schema in route.query if name == "timeout"), None)

    async def forward(request: web.Request) -> web.Response:
        body = await read_json(request) if route.body is not None and request.can_read_body else None
        if route.body is not None and body is None:
            body = {}
        # quoted: a parameter holding `/` or `..` must not reach another of the service's paths
        path = template.format(**{name: quote(value, safe="") for name, value in request.match_info.items()})
        wait_s = None
        if station_wait is not None:
            try:
                wait_s = float(request.query.get("timeout", station_wait["default"]))
            except ValueError as exc:
                raise ApiError(400, "invalid_timeout", "timeout is a number of seconds") from exc
            wait_s = min(max(wait_s, station_wait["minimum"]), station_wait["maximum"]) + UPSTREAM_MARGIN_S
        return _reply(*await _forward(request, _service_url(request, service), path, method=route.method,
                                      params=_query(request, *query_names), body=body, wait_s=wait_s))

    return forward


async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document())


# ----- the console's sign-in -------------------------------------------------------------------

def _session_body(user: str, session: dict[str, Any]) -> dict[str, Any]:
    return {"user": user, "role": session["role"], "scopes": list(ROLE_SCOPES[session["role"]]),
            "csrf_token": session["csrf_token"], "expires_at": session["expires_at"]}


async def sign_in(request: web.Request) -> web.Response:
    """The auth service checks the password; the session id it answers goes into the cookie
    only, out of reach of the page's scripts."""
    check_origin(request)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_request", "send {\"name\": ..., \"password\": ...}")
    status, session = await _forward(request, _service_url(request, "auth"), "/internal/auth/console/sign-in",
                                     method="POST", body={**body, "address": request.remote})
    if status != 201:
        return _reply(status, session)
    response = json_response(_session_body(session["user"], session), status=201)
    response.set_cookie(SESSION_COOKIE, session["session_id"], path="/api/", httponly=True, samesite="Strict",
                        secure=request.secure or request.headers.get("X-Forwarded-Proto") == "https")
    return response


async def get_console_session(request: web.Request) -> web.Response:
    caller = request[CALLER]
    assert caller.session is not None
    return json_response(_session_body(caller.name, caller.session))


async def sign_out(request: web.Request) -> web.Response:
    caller = request[CALLER]
    await _forward(request, _service_url(request, "auth"), "/internal/auth/console/sign-out", method="POST",
                   body={"session_id": caller.session_id, "used": False})
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/api/")
    return response


async def get_console_settings(request: web.Request) -> web.Response:
    return json_response({"trace_url_template": request.app[API_SETTINGS].trace_url_template})


# ----- live station status -----------------------------------------------------------------------

KEEPALIVE_S = 15.0  # a comment line this often keeps proxies from closing the stream, and finds a gone browser


def _watched_stations(request: web.Request) -> list[str] | None:
    station_ids = request.query.getall("station_id", [])
    if len(station_ids) > MAX_WATCHED_STATIONS:
        raise ApiError(400, "too_many_stations", f"watch at most {MAX_WATCHED_STATIONS} stations by id, or all")
    pattern = re.compile(STATION_ID[1]["pattern"])
    if any(pattern.fullmatch(station_id) is None for station_id in station_ids):
        raise ApiError(400, "invalid_station_id", f"station_id must match {pattern.pattern}")
    return station_ids or None


async def _session_ended(request: web.Request, caller: Caller) -> bool:
    """A console user's stream ends with the session (sign-out, expiry); reading it does not
    count as the person's use."""
    if caller.session_id is None:
        return False
    try:
        await console_session(request, caller.session_id, used=False)
    except ApiError as exc:
        return exc.status == 401
    return False


async def station_updates(request: web.Request) -> web.StreamResponse:
    station_ids = _watched_stations(request)
    caller = request[CALLER]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
    await response.prepare(request)
    feed = request.app[STATION_FEED]
    listener = feed.subscribe(station_ids)
    try:
        await response.write(b"retry: 3000\n\n")  # the browser reconnects after 3 s
        while True:
            try:
                async with asyncio.timeout(KEEPALIVE_S):
                    message = await listener.queue.get()
            except TimeoutError:
                if await _session_ended(request, caller):
                    await response.write(event("session-ended", b"{}"))
                    break
                message = b": keep-alive\n\n"
            if message is None:
                break
            await response.write(message)
    except ConnectionResetError:
        pass  # the browser went away
    finally:
        feed.unsubscribe(listener)
    return response


# ----- sessions ----------------------------------------------------------------------------------

async def get_session(request: web.Request) -> web.Response:
    """The session from sessions, with its energy meter series from telemetry."""
    session_id = _int_param(request, "session_id")
    status, session = await _forward(request, _service_url(request, "sessions"), f"/internal/sessions/{session_id}")
    if status != 200:
        return _reply(status, session)
    _, series = await _forward(request, _service_url(request, "telemetry"),
                               f"/internal/sessions/{session_id}/energy-samples")
    return json_response({**session, "meter_series": series.get("samples", []) if series else []})


async def download_station_file(request: web.Request) -> web.Response:
    """A station's uploaded file, passed through as it is (not JSON)."""
    file_id = _int_param(request, "file_id")
    station_id = request.match_info["station_id"]
    url = f"{_service_url(request, 'ocpp')}/internal/stations/{quote(station_id, safe='')}/files/{file_id}"
    async with _upstream(request, "GET", url) as response:
        if response.status != 200:
            return _reply(response.status, await response.json(content_type=None))
        return web.Response(body=await response.read(), headers={
            name: response.headers[name] for name in ("Content-Type", "Content-Disposition")
            if name in response.headers})


# ----- smart charging: friendlier forms of three commands ------------------------------------

def _int_query(request: web.Request, name: str, default: int | None = None) -> int | None:
    if name not in request.query:
        return default
    try:
        value = int(request.query[name])
    except ValueError as exc:
        raise ApiError(400, f"invalid_{name}", f"{name} must be an integer") from exc
    if not 0 <= value <= MAX_INT32:
        raise ApiError(400, f"invalid_{name}", f"{name} must be 0 to {MAX_INT32}")
    return value


async def _station_command(request: web.Request, action: str, payload: dict[str, Any]) -> web.Response:
    """The command through the gateway's command path, which checks, sends and records it."""
    station_id = request.match_info["station_id"]
    return _reply(*await _forward(request, _service_url(request, "ocpp"),
                                  f"/internal/stations/{station_id}/commands/{action}", method="POST",
                                  params=_query(request, "timeout"), body=payload))


async def clear_charging_profile(request: web.Request) -> web.Response:
    return await _station_command(request, "ClearChargingProfile", {"id": _int_param(request, "profile_id", 0)})


async def clear_charging_profiles(request: web.Request) -> web.Response:
    criteria: dict[str, Any] = {"connectorId": _int_query(request, "connectorId"),
                                "chargingProfilePurpose": request.query.get("chargingProfilePurpose"),
                                "stackLevel": _int_query(request, "stackLevel")}
    return await _station_command(request, "ClearChargingProfile",
                                  {key: value for key, value in criteria.items() if value is not None})


async def get_composite_schedule(request: web.Request) -> web.Response:
    payload: dict[str, Any] = {"connectorId": _int_query(request, "connectorId", 0),
                               "duration": _int_query(request, "duration", 3600)}
    if "chargingRateUnit" in request.query:
        payload["chargingRateUnit"] = request.query["chargingRateUnit"]
    return await _station_command(request, "GetCompositeSchedule", payload)
