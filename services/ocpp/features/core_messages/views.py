"""The Core profile's part of the internal API: the remote starts of a station."""

from __future__ import annotations

from aiohttp import web

from chargeplane.common.web import json_response

from .repository import REMOTE_STARTS

routes = web.RouteTableDef()


@routes.get("/internal/stations/{station_id}/remote-starts")
async def list_remote_starts(request: web.Request) -> web.Response:
    return json_response({"items": await request.app[REMOTE_STARTS].of_station(request.match_info["station_id"])})
