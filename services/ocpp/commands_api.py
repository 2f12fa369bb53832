"""`POST /internal/stations/{id}/commands/{action}`: a command to a station, its reply back.

The payload is checked against the action's official OCPP 1.6 schema before anything is
sent, so a bad payload is a 422 naming the field, never a frame the station must reject.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chargeplane.common.keys import DB_POOL
from chargeplane.common.web import ApiError, json_response, read_json

from . import charging_profiles, local_list, reservations, schemas, security
from .commands import CommandOutcome
from .keys import COMMANDS, CONFIGURATION, SECURITY, STORE
from .protocol import OcppError

# Every action OCPP 1.6 (with the Security Whitepaper edition 3) lets a CSMS send.
CSMS_ACTIONS = frozenset({
    "CancelReservation", "ChangeAvailability", "ChangeConfiguration", "ClearCache", "ClearChargingProfile",
    "DataTransfer", "GetCompositeSchedule", "GetConfiguration", "GetDiagnostics", "GetLocalListVersion",
    "RemoteStartTransaction", "RemoteStopTransaction", "ReserveNow", "Reset", "SendLocalList",
    "SetChargingProfile", "TriggerMessage", "UnlockConnector", "UpdateFirmware",
    "CertificateSigned", "DeleteCertificate", "ExtendedTriggerMessage", "GetInstalledCertificateIds", "GetLog",
    "InstallCertificate", "SignedUpdateFirmware",
})
DEFAULT_WAIT_S = 30.0
MAX_WAIT_S = 120.0
# A remote start the station accepted but never followed with StartTransaction expires.
REMOTE_START_EXPIRY_S = 120


async def post_command(request: web.Request) -> web.Response:
    station_id, action = request.match_info["station_id"], request.match_info["action"]
    if action not in CSMS_ACTIONS:
        raise ApiError(404, "unknown_command", f"{action!r} is not an OCPP 1.6 command a CSMS can send",
                       {"commands": sorted(CSMS_ACTIONS)})
    payload: Any = await read_json(request) if request.can_read_body else {}
    if not isinstance(payload, dict):
        raise ApiError(422, "invalid_payload", "the command payload must be a JSON object")
    outcome = await send_checked(request, station_id, action, payload)
    result = outcome.payload
    await request.app[CONFIGURATION].after_command(station_id, action, payload, outcome)
    await request.app[SECURITY].after_command(station_id, action, payload, outcome)
    await reservations.record_reply(request.app[DB_POOL], station_id, action, payload, result)
    await local_list.record_reply(request.app[DB_POOL], station_id, action, payload, result)
    await charging_profiles.record_reply(request.app[DB_POOL], station_id, action, payload, result)
    if action == "RemoteStartTransaction" and result.get("status") == "Accepted":
        await request.app[STORE].record_remote_start(
            station_id, payload.get("connectorId"), payload["idTag"], REMOTE_START_EXPIRY_S
        )
    return json_response({"station_id": station_id, "action": action, "result": result})


async def send_checked(request: web.Request, station_id: str, action: str, payload: dict[str, Any]) -> CommandOutcome:
    """Check the payload (the action's schema, then what the security extension refuses),
    send it, and return the station's CALLRESULT; anything else (unknown station, offline,
    timeout, CALLERROR) is an ApiError."""
    try:
        schemas.validate(action, payload)
    except OcppError as exc:
        raise ApiError(422, "invalid_payload", exc.description, exc.details) from exc
    security.check_command(action, payload)
    within_s = wait_seconds(request)
    await require_station(request, station_id)
    await charging_profiles.check_command(request.app[DB_POOL], station_id, action, payload)
    outcome = await request.app[COMMANDS].send(station_id, action, payload, within_s)
    station_reply(station_id, outcome, within_s)
    return outcome


def wait_seconds(request: web.Request) -> float:
    """How long to wait for the station's reply: `?timeout=`, bounded."""
    try:
        return min(max(float(request.query.get("timeout", DEFAULT_WAIT_S)), 1.0), MAX_WAIT_S)
    except ValueError as exc:
        raise ApiError(400, "invalid_timeout", "timeout is a number of seconds") from exc


async def require_station(request: web.Request, station_id: str) -> None:
    if await request.app[STORE].find_station(station_id) is None:
        raise ApiError(404, "station_not_found", f"station {station_id!r} is not registered")


def station_reply(station_id: str, outcome: CommandOutcome, within_s: float) -> dict[str, Any]:
    """The station's CALLRESULT payload, or the ApiError for a command it did not answer so."""
    if outcome.status == "offline":
        raise ApiError(409, "station_offline", f"station {station_id!r} is not connected")
    if outcome.status == "timeout":
        raise ApiError(504, "station_timeout", f"station {station_id!r} did not answer within {within_s:g} s")
    if outcome.status == "error":
        raise ApiError(502, "station_call_error", f"station answered CALLERROR {outcome.payload['errorCode']}",
                       outcome.payload)
    return outcome.payload


async def list_remote_starts(request: web.Request) -> web.Response:
    rows = await request.app[DB_POOL].fetch(
        "SELECT id, connector_id, id_tag, status, transaction_id, requested_at, expires_at, settled_at"
        " FROM remote_start_requests WHERE station_id = $1 ORDER BY id DESC LIMIT 100",
        request.match_info["station_id"],
    )
    return json_response({"items": [dict(r) for r in rows]})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/internal/stations/{station_id}/commands/{action}", post_command)
    app.router.add_get("/internal/stations/{station_id}/remote-starts", list_remote_starts)
