"""The gateway's internal station registry API, used by the operator and admin tools.

Only stations registered here may connect. The view of a station (online, connectors,
last heartbeat) is read from PostgreSQL, so every gateway replica answers the same.
"""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import WSCloseCode, web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from chargeplane.common.keys import DB_POOL
from chargeplane.common.station_ids import STATION_ID_RULE, is_valid_station_id
from chargeplane.common.web import ApiError, json_response, read_json

from .configuration import DesiredConfiguration
from .keys import CONFIGURATION, REGISTRY
from .station_overview import StationFilter, StationOverview, StationStatus


class StationRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    heartbeat_interval: int = Field(default=300, ge=10, le=86400)
    registration_status: Literal["Accepted", "Pending", "Rejected"] = "Accepted"
    # OCPP key -> value the gateway enforces whenever the station is online
    desired_configuration: DesiredConfiguration = Field(default_factory=dict)
    # OCPP security profile: 1 HTTP Basic, 2 TLS + Basic, 3 TLS with a client certificate
    security_profile: Literal[1, 2, 3] = 1


def _station_id(request: web.Request) -> str:
    station_id = request.match_info["station_id"]
    if not is_valid_station_id(station_id):
        raise ApiError(400, "invalid_station_id", STATION_ID_RULE)
    return station_id


async def _station_view(request: web.Request, station_id: str) -> dict[str, Any] | None:
    return await StationOverview(request.app[DB_POOL]).station(station_id)


async def put_station(request: web.Request) -> web.Response:
    station_id = _station_id(request)
    body = StationRegistration.model_validate(await read_json(request) if request.can_read_body else {})
    async with request.app[DB_POOL].acquire() as conn, conn.transaction():
        previous = await conn.fetchval(
            "SELECT desired_configuration FROM charging_stations WHERE id = $1 FOR UPDATE", station_id)
        created = await conn.fetchval(
            "INSERT INTO charging_stations (id, heartbeat_interval, registration_status, desired_configuration,"
            " security_profile) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET heartbeat_interval = $2,"
            " registration_status = $3, desired_configuration = $4, security_profile = $5, updated_at = now()"
            " RETURNING (xmax = 0)",
            station_id, body.heartbeat_interval, body.registration_status, body.desired_configuration,
            body.security_profile,
        )
    if body.desired_configuration and body.desired_configuration != previous:
        request.app[CONFIGURATION].desired_changed(station_id)
    return json_response(await _station_view(request, station_id), status=201 if created else 200)


async def get_station(request: web.Request) -> web.Response:
    station_id = _station_id(request)
    view = await _station_view(request, station_id)
    if view is None:
        raise ApiError(404, "station_not_found", f"station {station_id!r} is not registered")
    return json_response(view)


class Page(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=2**31)


class StationQuery(Page):
    q: str | None = Field(default=None, min_length=1, max_length=48)
    vendor: str | None = Field(default=None, min_length=1, max_length=100)
    status: StationStatus | None = None
    changed_since: AwareDatetime | None = None


async def list_stations(request: web.Request) -> web.Response:
    """Stations with their connectors; `q` a part of the id, `vendor`, `status` (Online, Offline, or a
    connector's OCPP status), `changed_since` (those that connected, disconnected, booted, sent a
    heartbeat or a connector's status since then; `as_of` is the next one's time)."""
    query = StationQuery.model_validate(dict(request.query))
    where = StationFilter(query.q, query.vendor, query.status, query.changed_since)
    page = await StationOverview(request.app[DB_POOL]).stations(where, query.limit, query.offset)
    return json_response({**page, "limit": query.limit, "offset": query.offset})


async def station_counts(request: web.Request) -> web.Response:
    return json_response(await StationOverview(request.app[DB_POOL]).counts())


async def list_frames(request: web.Request) -> web.Response:
    """The station's recent OCPP frames from the frame log, newest first."""
    station_id = _station_id(request)
    page = Page.model_validate(dict(request.query))
    frames = await StationOverview(request.app[DB_POOL]).frames(station_id, page.limit, page.offset)
    return json_response({"items": frames, "limit": page.limit, "offset": page.offset})


async def delete_station(request: web.Request) -> web.Response:
    """Deregister a station; its socket on this replica, if any, is closed. Idempotent."""
    station_id = _station_id(request)
    await request.app[DB_POOL].execute("DELETE FROM charging_stations WHERE id = $1", station_id)
    connection = request.app[REGISTRY].get(station_id)
    if connection is not None:
        await connection.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"station deregistered")
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/internal/stations", list_stations)
    app.router.add_get("/internal/station-counts", station_counts)
    app.router.add_get("/internal/stations/{station_id}", get_station)
    app.router.add_get("/internal/stations/{station_id}/frames", list_frames)
    app.router.add_put("/internal/stations/{station_id}", put_station)
    app.router.add_delete("/internal/stations/{station_id}", delete_station)
