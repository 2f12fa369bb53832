"""Diagnostics and logs from a station, and its firmware, diagnostics and log statuses.

`POST /internal/stations/{id}/diagnostics-requests` sends GetDiagnostics and
`POST /internal/stations/{id}/log-requests` sends GetLog (security extension), each naming a
fresh upload location of this platform (`uploads_api`); the body is the OCPP payload without
what the platform fills in (the location; for GetLog also the requestId, which is the upload
request's id). The station's reply is stored with the request, and the file it uploads is
listed under the station's files.
"""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from chargeplane.common.keys import DB_POOL, SETTINGS
from chargeplane.common.web import ApiError, json_response, read_json

from . import schemas
from .commands_api import require_station, station_reply, wait_seconds
from .keys import COMMANDS
from .protocol import OcppError
from .settings import OcppSettings
from .stations_api import Page

NOTIFICATIONS = ("FirmwareStatusNotification", "SignedFirmwareStatusNotification", "DiagnosticsStatusNotification",
                 "LogStatusNotification")
HISTORY_LIMIT = 100


def _upload_location(request: web.Request, token: str) -> str:
    settings = request.app[SETTINGS]
    assert isinstance(settings, OcppSettings)
    base = settings.upload_base_url or str(request.url.origin())
    return f"{base.rstrip('/')}/uploads/{token}"


async def _body(request: web.Request, filled_in: str) -> dict[str, Any]:
    body: Any = await read_json(request) if request.can_read_body else {}
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_payload", "the body must be a JSON object")
    if filled_in in body:
        raise ApiError(422, "invalid_payload", f"{filled_in} is filled in by the platform", {"path": filled_in})
    return body


def _validated(action: str, payload: dict[str, Any]) -> None:
    try:
        schemas.validate(action, payload)
    except OcppError as exc:
        raise ApiError(422, "invalid_payload", exc.description, exc.details) from exc
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
    pool = request.app[DB_POOL]
    settings = request.app[SETTINGS]
    assert isinstance(settings, OcppSettings)
    token = secrets.token_urlsafe(24)
    location = _upload_location(request, token)
    request_id = await pool.fetchval("SELECT nextval(pg_get_serial_sequence('station_upload_requests', 'id'))")
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
    await pool.execute(
        "INSERT INTO station_upload_requests (id, station_id, action, token, request, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))",
        request_id, station_id, action, token, payload, settings.upload_window_s,
    )
    outcome = await request.app[COMMANDS].send(station_id, action, payload, within_s)
    column = "reply" if outcome.status == "result" else "error"
    await pool.execute(f"UPDATE station_upload_requests SET {column} = $2 WHERE id = $1",
                       request_id, outcome.payload if column == "reply" else outcome.to_json())
    result = station_reply(station_id, outcome, within_s)
    return json_response({"id": request_id, "station_id": station_id, "action": action, "location": location,
                          "request": payload, "result": result}, status=201)


async def post_diagnostics_request(request: web.Request) -> web.Response:
    return await _request_upload(request, "GetDiagnostics", await _body(request, "location"))


async def post_log_request(request: web.Request) -> web.Response:
    return await _request_upload(request, "GetLog", await _body(request, "requestId"))


async def list_upload_requests(request: web.Request) -> web.Response:
    """The GetDiagnostics/GetLog requests sent to a station: what was asked, the reply, the files."""
    page = Page.model_validate(dict(request.query))
    rows = await request.app[DB_POOL].fetch(
        "SELECT r.id, r.action, r.request, r.reply, r.error, r.created_at, r.expires_at,"
        " coalesce(array_agg(f.id ORDER BY f.id) FILTER (WHERE f.id IS NOT NULL), '{}') AS file_ids"
        " FROM station_upload_requests r LEFT JOIN station_files f ON f.upload_request_id = r.id"
        " WHERE r.station_id = $1 GROUP BY r.id ORDER BY r.id DESC LIMIT $2 OFFSET $3",
        request.match_info["station_id"], page.limit, page.offset,
    )
    return json_response({"items": [dict(r) for r in rows], "limit": page.limit, "offset": page.offset})


async def get_maintenance(request: web.Request) -> web.Response:
    """The station's firmware version, its latest status of each notification, and their history."""
    station_id = request.match_info["station_id"]
    pool = request.app[DB_POOL]
    firmware_version = await pool.fetchrow("SELECT firmware_version FROM charging_stations WHERE id = $1", station_id)
    if firmware_version is None:
        raise ApiError(404, "station_not_found", f"station {station_id!r} is not registered")
    history = [dict(r) for r in await pool.fetch(
        "SELECT notification, status, request_id, received_at FROM station_maintenance_statuses"
        " WHERE station_id = $1 ORDER BY id DESC LIMIT $2", station_id, HISTORY_LIMIT)]
    latest = {r["notification"]: {k: r[k] for k in ("status", "request_id", "received_at")}
              for r in await pool.fetch(
                  "SELECT DISTINCT ON (notification) notification, status, request_id, received_at"
                  " FROM station_maintenance_statuses WHERE station_id = $1 ORDER BY notification, id DESC",
                  station_id)}
    return json_response({"station_id": station_id, "firmware_version": firmware_version["firmware_version"],
                          "latest": {name: latest.get(name) for name in NOTIFICATIONS}, "history": history})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/internal/stations/{station_id}/diagnostics-requests", post_diagnostics_request)
    app.router.add_post("/internal/stations/{station_id}/log-requests", post_log_request)
    app.router.add_get("/internal/stations/{station_id}/upload-requests", list_upload_requests)
    app.router.add_get("/internal/stations/{station_id}/maintenance", get_maintenance)
