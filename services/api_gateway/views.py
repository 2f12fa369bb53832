"""Views of the public API: validate, forward to the owning service (a traced HTTP call),
and answer with its JSON. The api-gateway has no database of its own."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

from chargeplane.common.keys import HTTP
from chargeplane.common.web import ApiError, json_response, read_json

from .keys import API_SETTINGS
from .routes import openapi_document

MAX_ID = 2**63 - 1


async def _forward(request: web.Request, base_url: str, path: str, *, method: str = "GET",
                   params: dict[str, str] | None = None, body: Any = None) -> tuple[int, Any]:
    try:
        async with request.app[HTTP].request(method, base_url + path, params=params,
                                             json=body if body is not None else None) as response:
            payload = await response.json(content_type=None) if response.status != 204 else None
            return response.status, payload
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ApiError(503, "service_unavailable", f"a ChargePlane service is unavailable: {exc!r}") from exc


def _reply(status: int, payload: Any) -> web.Response:
    if status == 204:
        return web.Response(status=204)
    return json_response(payload, status=status)


def _query(request: web.Request, *names: str) -> dict[str, str]:
    return {name: request.query[name] for name in names if name in request.query}


def _int_param(request: web.Request, name: str) -> int:
    try:
        value = int(request.match_info[name])
    except ValueError as exc:
        raise ApiError(400, f"invalid_{name}", f"{name} must be an integer") from exc
    if not 1 <= value <= MAX_ID:
        raise ApiError(404, "not_found", f"no such {name.removesuffix('_id')}")
    return value


async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document())


async def token(request: web.Request) -> web.Response:
    settings = request.app[API_SETTINGS]
    return _reply(*await _forward(request, settings.auth_url, "/internal/auth/token", method="POST",
                                  body=await read_json(request)))


async def list_stations(request: web.Request) -> web.Response:
    settings = request.app[API_SETTINGS]
    return _reply(*await _forward(request, settings.ocpp_http_url, "/internal/stations",
                                  params=_query(request, "limit", "offset")))


async def get_station(request: web.Request) -> web.Response:
    settings = request.app[API_SETTINGS]
    return _reply(*await _forward(request, settings.ocpp_http_url,
                                  f"/internal/stations/{request.match_info['station_id']}"))


async def post_command(request: web.Request) -> web.Response:
    settings = request.app[API_SETTINGS]
    body = await read_json(request) if request.can_read_body else {}
    path = f"/internal/stations/{request.match_info['station_id']}/commands/{request.match_info['action']}"
    return _reply(*await _forward(request, settings.ocpp_http_url, path, method="POST",
                                  params=_query(request, "timeout"), body=body))


async def list_remote_starts(request: web.Request) -> web.Response:
    settings = request.app[API_SETTINGS]
    return _reply(*await _forward(request, settings.ocpp_http_url,
                                  f"/internal/stations/{request.match_info['station_id']}/remote-starts"))


async def list_sessions(request: web.Request) -> web.Response:
    settings = request.app[API_SETTINGS]
    return _reply(*await _forward(request, settings.sessions_url, "/internal/sessions",
                                  params=_query(request, "station_id", "status", "from", "to", "limit", "offset")))


async def get_session(request: web.Request) -> web.Response:
    settings = request.app[API_SETTINGS]
    session_id = _int_param(request, "session_id")
    status, session = await _forward(request, settings.sessions_url, f"/internal/sessions/{session_id}")
    if status != 200:
        return _reply(status, session)
    _, series = await _forward(request, settings.telemetry_url, f"/internal/sessions/{session_id}/energy-samples")
    return json_response({**session, "meter_series": series.get("samples", []) if series else []})


async def list_bills(request: web.Request) -> web.Response:
    settings = request.app[API_SETTINGS]
    return _reply(*await _forward(request, settings.billing_url, "/internal/billing/transactions",
                                  params=_query(request, "session_id", "station_id", "limit", "offset")))


async def list_tariffs(request: web.Request) -> web.Response:
    settings = request.app[API_SETTINGS]
    return _reply(*await _forward(request, settings.billing_url, "/internal/tariffs"))


async def get_tariff(request: web.Request) -> web.Response:
    settings = request.app[API_SETTINGS]
    return _reply(*await _forward(request, settings.billing_url,
                                  f"/internal/tariffs/{request.match_info['tariff_id']}"))


async def list_id_tags(request: web.Request) -> web.Response:
    settings = request.app[API_SETTINGS]
    return _reply(*await _forward(request, settings.auth_url, "/internal/auth/id-tags",
                                  params=_query(request, "limit", "offset")))


async def get_id_tag(request: web.Request) -> web.Response:
    settings = request.app[API_SETTINGS]
    return _reply(*await _forward(request, settings.auth_url,
                                  f"/internal/auth/id-tags/{request.match_info['id_tag']}"))


async def put_id_tag(request: web.Request) -> web.Response:
    settings = request.app[API_SETTINGS]
    return _reply(*await _forward(request, settings.auth_url,
                                  f"/internal/auth/id-tags/{request.match_info['id_tag']}", method="PUT",
                                  body=await read_json(request)))


async def delete_id_tag(request: web.Request) -> web.Response:
    settings = request.app[API_SETTINGS]
    return _reply(*await _forward(request, settings.auth_url,
                                  f"/internal/auth/id-tags/{request.match_info['id_tag']}", method="DELETE"))
