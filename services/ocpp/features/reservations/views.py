"""`/internal/stations/{id}/reservations`: reserve a connector, cancel, list.

A friendlier face of ReserveNow and CancelReservation: the gateway allocates the
reservationId, sends the command like `POST .../commands/{action}` does, and answers with
the reservation as stored.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from chargeplane.common.timeutil import format_ocpp, utcnow
from chargeplane.common.web import ApiError, json_response, read_json
from chargeplane.services.ocpp.core.api import send_checked

from .repository import RESERVATIONS
from .reservations import NAME

routes = web.RouteTableDef()

MAX_INTEGER = 2**31 - 1  # an OCPP integer


class ReservationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connector_id: int = Field(ge=0, le=MAX_INTEGER)  # 0: any connector, if the station supports it
    id_tag: str = Field(min_length=1, max_length=20)
    expires_at: AwareDatetime
    parent_id_tag: str | None = Field(default=None, min_length=1, max_length=20)


class ReservationQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["Active", "Rejected", "Consumed", "Cancelled", "Expired", "Replaced"] | None = None
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=2**31)


@routes.post("/internal/stations/{station_id}/reservations")
async def create_reservation(request: web.Request) -> web.Response:
    station_id = request.match_info["station_id"]
    body = ReservationRequest.model_validate(await read_json(request))
    if body.expires_at <= utcnow():
        raise ApiError(422, "expired", "expires_at must be in the future")
    payload = {"connectorId": body.connector_id, "expiryDate": format_ocpp(body.expires_at), "idTag": body.id_tag,
               "reservationId": await request.app[RESERVATIONS].next_id()}
    if body.parent_id_tag is not None:
        payload["parentIdTag"] = body.parent_id_tag
    outcome = await send_checked(request, station_id, "ReserveNow", payload)
    return json_response({"reservation": outcome.recorded[NAME], "result": outcome.payload}, status=201)


@routes.delete("/internal/stations/{station_id}/reservations/{reservation_id}")
async def cancel_reservation(request: web.Request) -> web.Response:
    station_id = request.match_info["station_id"]
    try:
        reservation_id = int(request.match_info["reservation_id"])
    except ValueError as exc:
        raise ApiError(400, "invalid_reservation_id", "reservation_id is an integer") from exc
    active = 0 <= reservation_id <= MAX_INTEGER and await request.app[RESERVATIONS].is_active(station_id,
                                                                                              reservation_id)
    if not active:
        raise ApiError(404, "reservation_not_found", f"station {station_id!r} has no active reservation "
                       f"{reservation_id}")
    outcome = await send_checked(request, station_id, "CancelReservation", {"reservationId": reservation_id})
    return json_response({"reservation": outcome.recorded[NAME], "result": outcome.payload})


@routes.get("/internal/stations/{station_id}/reservations")
async def list_reservations(request: web.Request) -> web.Response:
    query = ReservationQuery.model_validate(dict(request.query))
    items = await request.app[RESERVATIONS].of_station(request.match_info["station_id"], query.status, query.limit,
                                                       query.offset)
    return json_response({"items": items, "limit": query.limit, "offset": query.offset})
