"""Diagnostics and logs from a station, and its firmware, diagnostics and log statuses.

`POST /internal/stations/{id}/diagnostics-requests` sends GetDiagnostics and
`POST /internal/stations/{id}/log-requests` sends GetLog (security extension), each naming a
fresh upload location of this platform (`uploads`); the body is the OCPP payload without
what the platform fills in (the location; for GetLog also the requestId, which is the upload
request's id). The station's reply is stored with the request, and the file it uploads is
listed under the station's files.
"""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from chargeplane.common.web import ApiError, json_response, read_json
from chargeplane.services.ocpp.core.api import Page, require_station, station_reply, valid_payload, wait_seconds
from chargeplane.services.ocpp.core.commands import COMMANDS
from chargeplane.services.ocpp.core.listeners import STATION_LISTENERS
from chargeplane.services.ocpp.settings import OCPP_SETTINGS

from .repository import FIRMWARE

routes = web.RouteTableDef()

NOTIFICATIONS = ("FirmwareStatusNotification", "SignedFirmwareStatusNotification", "DiagnosticsStatusNotification",
                 "LogStatusNotification")
HISTORY_LIMIT = 100


def _upload_location(request: web.Request, token: str) -> str:
    """Stations upload to their listener: unless `upload_base_url` says where stations reach it,
    the host the API was called on, at the plain station port."""
    base = (request.app[OCPP_SETTINGS].upload_base_url
            or str(request.url.origin().with_port(request.app[STATION_LISTENERS].port)))
    return f"{base.rstrip('/')}/uploads/{token}"


async def _body(request: web.Request, filled_in: str) -> dict[str, Any]:
    body: Any = await read_json(request) if request.can_read_body else {}
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_payload", "the body must be a JSON object")
    if filled_in in body:
        raise ApiError(422, "invalid_payload", f"{filled_in} is filled in by the platform", {"path": filled_in})
    return body


def _validated(action: str, payload: dict[str, Any]) -> None:
    valid_payload(action, payload)
    if _has_nul(payload):  # the request is kept as jsonb, which cannot hold one
        raise ApiError(422, "invalid_payload", "the payload contains a NUL character")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return isinstance(value, list) and any(_has_nul(v) for v in value)


async def _request_upload(request: web.Request, action: str, body: dict[str, Any]) -> web.Response:
    """Send GetDiagnostics or GetLog with a new upload location; store and answer the reply."""
    station_id = request.match_info["station_id"]
    within_s = wait_seconds(request)
    firmware = request.app[FIRMWARE]
    token = secrets.token_urlsafe(24)
    location = _upload_location(request, token)
    request_id = await firmware.next_upload_request_id()
    if action == "GetDiagnostics":
        payload = {**body, "location": location}
    else:
        log_parameters = body.get("log", {})
        if not isinstance(log_parameters, dict) or "remoteLocation" in log_parameters:
            raise ApiError(422, "invalid_payload", "log is an object; its remoteLocation is filled in by the platform",
                           {"path": "log"})
        payload = {**body, "requestId": request_id, "log": {**log_parameters, "remoteLocation": location}}
    _validated(action, payload)
    await require_station(request, station_id)
    await firmware.create_upload_request(request_id, station_id, action, token, payload,
                                         request.app[OCPP_SETTINGS].upload_window_s)
    outcome = await request.app[COMMANDS].send(station_id, action, payload, within_s)
    answered = outcome.status == "result"
    await firmware.record_upload_answer(request_id, outcome.payload if answered else None,
                                        None if answered else outcome.to_json())
    result = station_reply(station_id, outcome, within_s)
    return json_response({"id": request_id, "station_id": station_id, "action": action, "location": location,
                          "request": payload, "result": result}, status=201)


@routes.post("/internal/stations/{station_id}/diagnostics-requests")
async def post_diagnostics_request(request: web.Request) -> web.Response:
    return await _request_upload(request, "GetDiagnostics", await _body(request, "location"))


@routes.post("/internal/stations/{station_id}/log-requests")
async def post_log_request(request: web.Request) -> web.Response:
    return await _request_upload(request, "GetLog", await _body(request, "requestId"))


@routes.get("/internal/stations/{station_id}/upload-requests")
async def list_upload_requests(request: web.Request) -> web.Response:
    """The GetDiagnostics/GetLog requests sent to a station: what was asked, the reply, the files."""
    page = Page.model_validate(dict(request.query))
    items = await request.app[FIRMWARE].upload_requests(request.match_info["station_id"], page.limit, page.offset)
    return json_response({"items": items, "limit": page.limit, "offset": page.offset})


@routes.get("/internal/stations/{station_id}/maintenance")
async def get_maintenance(request: web.Request) -> web.Response:
    """The station's firmware version, its latest status of each notification, and their history."""
    station_id = request.match_info["station_id"]
    firmware = request.app[FIRMWARE]
    registered, firmware_version = await firmware.firmware_version(station_id)
    if not registered:
        raise ApiError(404, "station_not_found", f"station {station_id!r} is not registered")
    latest = await firmware.latest_statuses(station_id)
    return json_response({"station_id": station_id, "firmware_version": firmware_version,
                          "latest": {name: latest.get(name) for name in NOTIFICATIONS},
                          "history": await firmware.status_history(station_id, HISTORY_LIMIT)})
