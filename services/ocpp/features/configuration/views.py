"""`GET /internal/stations/{id}/configuration`: the keys a station reported, the desired
values and where each stands, and the station's answers to ChangeConfiguration."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chargeplane.common.web import ApiError, json_response
from chargeplane.services.ocpp.core.feature import StatesQuery

from .sync import CONFIGURATION

routes = web.RouteTableDef()


@routes.get("/internal/stations/{station_id}/configuration")
async def get_configuration(request: web.Request) -> web.Response:
    station_id = request.match_info["station_id"]
    configuration = await request.app[CONFIGURATION].repository.load(station_id)
    if configuration is None:
        raise ApiError(404, "station_not_found", f"station {station_id!r} is not registered")
    return json_response(configuration.to_json(station_id))


async def station_states(app: web.Application, query: StatesQuery) -> dict[str, dict[str, Any]]:
    """Where the desired configuration of each station asked for stands (the operator's status)."""
    repository = app[CONFIGURATION].repository
    states: dict[str, dict[str, Any]] = {}
    for station_id in sorted(query.configuration_of.intersection(query.station_ids)):
        configuration = await repository.load(station_id)
        states[station_id] = {"configuration": configuration.to_json(station_id) if configuration else None}
    return states
