"""`GET /internal/stations/{id}/configuration`: the keys a station reported, the desired
values and where each stands, and the station's answers to ChangeConfiguration."""

from __future__ import annotations

from aiohttp import web

from chargeplane.common.web import ApiError, json_response

from .sync import CONFIGURATION

routes = web.RouteTableDef()


@routes.get("/internal/stations/{station_id}/configuration")
async def get_configuration(request: web.Request) -> web.Response:
    station_id = request.match_info["station_id"]
    configuration = await request.app[CONFIGURATION].repository.load(station_id)
    if configuration is None:
        raise ApiError(404, "station_not_found", f"station {station_id!r} is not registered")
    return json_response(configuration.to_json(station_id))
