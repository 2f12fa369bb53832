"""The core's internal API, used by the operator, admin tools and the api-gateway: the station
registry (only stations registered here may connect) and any command to a station.

`POST /internal/stations/{id}/commands/{action}` sends any CSMS-initiated OCPP 1.6 action; the
payload is checked against the action's official schema before anything is sent, so a bad
payload is a 422 naming the field, never a frame the station must reject.
"""

from __future__ import annotations

from typing import Any

from aiohttp import WSCloseCode, web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from chargeplane.common.station_ids import STATION_ID_RULE, is_valid_station_id
from chargeplane.common.web import ApiError, json_response, read_json

from .api import Page, send_checked
from .feature import FEATURES, StatesQuery
from .registration import RegistrationChange, StationRegistration
from .registry import REGISTRY
from .repository import STATIONS, StationFilter, StationStatus

routes = web.RouteTableDef()

# Every action OCPP 1.6 (with the Security Whitepaper edition 3) lets a CSMS send.
CSMS_ACTIONS = frozenset({
    "CancelReservation", "ChangeAvailability", "ChangeConfiguration", "ClearCache", "ClearChargingProfile",
    "DataTransfer", "GetCompositeSchedule", "GetConfiguration", "GetDiagnostics", "GetLocalListVersion",
    "RemoteStartTransaction", "RemoteStopTransaction", "ReserveNow", "Reset", "SendLocalList",
    "SetChargingProfile", "TriggerMessage", "UnlockConnector", "UpdateFirmware",
    "CertificateSigned", "DeleteCertificate", "ExtendedTriggerMessage", "GetInstalledCertificateIds", "GetLog",
    "InstallCertificate", "SignedUpdateFirmware",
})


def _station_id(request: web.Request) -> str:
    station_id = request.match_info["station_id"]
    if not is_valid_station_id(station_id):
        raise ApiError(400, "invalid_station_id", STATION_ID_RULE)
    return station_id


@routes.put("/internal/stations/{station_id}")
async def put_station(request: web.Request) -> web.Response:
    station_id = _station_id(request)
    registration = StationRegistration.model_validate(await read_json(request) if request.can_read_body else {})
    created, previous = await request.app[STATIONS].register(station_id, registration)
    request.app[FEATURES].registered(RegistrationChange(station_id, registration, previous))
    return json_response(await request.app[STATIONS].view(station_id), status=201 if created else 200)


@routes.get("/internal/stations/{station_id}")
async def get_station(request: web.Request) -> web.Response:
    station_id = _station_id(request)
    view = await request.app[STATIONS].view(station_id)
    if view is None:
        raise ApiError(404, "station_not_found", f"station {station_id!r} is not registered")
    return json_response(view)


class StationQuery(Page):
    q: str | None = Field(default=None, min_length=1, max_length=48)
    vendor: str | None = Field(default=None, min_length=1, max_length=100)
    status: StationStatus | None = None
    changed_since: AwareDatetime | None = None


@routes.get("/internal/stations")
async def list_stations(request: web.Request) -> web.Response:
    """Stations with their connectors; `q` a part of the id, `vendor`, `status` (Online, Offline, or a
    connector's OCPP status), `changed_since` (those that connected, disconnected, booted, sent a
    heartbeat or a connector's status since then; `as_of` is the next one's time)."""
    query = StationQuery.model_validate(dict(request.query))
    where = StationFilter(query.q, query.vendor, query.status, query.changed_since)
    page = await request.app[STATIONS].stations(where, query.limit, query.offset)
    return json_response({**page, "limit": query.limit, "offset": query.offset})


@routes.get("/internal/station-counts")
async def station_counts(request: web.Request) -> web.Response:
    return json_response(await request.app[STATIONS].counts())


@routes.get("/internal/stations/{station_id}/frames")
async def list_frames(request: web.Request) -> web.Response:
    """The station's recent OCPP frames from the frame log, newest first."""
    station_id = _station_id(request)
    page = Page.model_validate(dict(request.query))
    frames = await request.app[STATIONS].frames(station_id, page.limit, page.offset)
    return json_response({"items": frames, "limit": page.limit, "offset": page.offset})


# a namespace's stations in one request: a gateway replica takes 5,000 and the operator runs up to 10
MAX_STATES = 50_000


class StatesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    station_ids: list[str] = Field(max_length=MAX_STATES)
    configuration_of: list[str] = Field(default_factory=list, max_length=MAX_STATES)


@routes.post("/internal/stations/states")
async def station_states(request: web.Request) -> web.Response:
    """What the gateway knows of many stations at once, for the operator's status loop (one
    request per namespace per interval, not one per station): each station's view (online,
    connectors, boot, heartbeat) and what each feature adds (where its desired configuration
    stands, the charging profiles it holds). A station that is not registered is left out."""
    body = StatesRequest.model_validate(await read_json(request))
    ids = [station_id for station_id in dict.fromkeys(body.station_ids) if is_valid_station_id(station_id)]
    states = {station_id: {"view": view} for station_id, view in (await request.app[STATIONS].views(ids)).items()}
    await request.app[FEATURES].station_states(StatesQuery(ids, frozenset(body.configuration_of)), states)
    return json_response({"stations": states})


@routes.delete("/internal/stations/{station_id}")
async def delete_station(request: web.Request) -> web.Response:
    """Deregister a station; its socket on this replica, if any, is closed. Idempotent."""
    station_id = _station_id(request)
    await request.app[STATIONS].delete(station_id)
    connection = request.app[REGISTRY].get(station_id)
    if connection is not None:
        await connection.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"station deregistered")
    return web.Response(status=204)


@routes.post("/internal/stations/{station_id}/commands/{action}")
async def post_command(request: web.Request) -> web.Response:
    station_id, action = request.match_info["station_id"], request.match_info["action"]
    if action not in CSMS_ACTIONS:
        raise ApiError(404, "unknown_command", f"{action!r} is not an OCPP 1.6 command a CSMS can send",
                       {"commands": sorted(CSMS_ACTIONS)})
    payload: Any = await read_json(request) if request.can_read_body else {}
    if not isinstance(payload, dict):
        raise ApiError(422, "invalid_payload", "the command payload must be a JSON object")
    outcome = await send_checked(request, station_id, action, payload)
    return json_response({"station_id": station_id, "action": action, "result": outcome.payload})
