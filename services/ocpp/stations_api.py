"""The gateway's internal station registry API, used by the operator and admin tools.

Only stations registered here may connect. The view of a station (online, connectors,
last heartbeat) is read from PostgreSQL, so every gateway replica answers the same.
"""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import WSCloseCode, web
from pydantic import BaseModel, ConfigDict, Field

from chargeplane.common.keys import DB_POOL
from chargeplane.common.station_ids import STATION_ID_RULE, is_valid_station_id
from chargeplane.common.web import ApiError, json_response, read_json

from .configuration import DesiredConfiguration
from .keys import CONFIGURATION, REGISTRY

STATION_COLUMNS = (
    "id, vendor, model, serial_number, firmware_version, registration_status, heartbeat_interval, connected,"
    " last_boot_at, last_heartbeat_at, last_seen_at, security_profile, created_at"
)
# a transaction that ended (stopped, or closed when its station booted) is no longer the connector's
CONNECTOR_COLUMNS = (
    "connector_id, status, error_code, info, status_at,"
    " CASE WHEN transaction_ended THEN NULL ELSE transaction_id END AS transaction_id, meter_wh, meter_at"
)


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
    pool = request.app[DB_POOL]
    station = await pool.fetchrow(f"SELECT {STATION_COLUMNS} FROM charging_stations WHERE id = $1", station_id)
    if station is None:
        return None
    connectors = await pool.fetch(
        f"SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE station_id = $1 ORDER BY connector_id", station_id
    )
    return {**dict(station), "connectors": [dict(c) for c in connectors]}


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


async def list_stations(request: web.Request) -> web.Response:
    page = Page.model_validate(dict(request.query))
    rows = await request.app[DB_POOL].fetch(
        f"SELECT {STATION_COLUMNS} FROM charging_stations ORDER BY id LIMIT $1 OFFSET $2", page.limit, page.offset
    )
    return json_response({"items": [dict(r) for r in rows], "limit": page.limit, "offset": page.offset})


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
    app.router.add_get("/internal/stations/{station_id}", get_station)
    app.router.add_put("/internal/stations/{station_id}", put_station)
    app.router.add_delete("/internal/stations/{station_id}", delete_station)
