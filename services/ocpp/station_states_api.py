"""`POST /internal/stations/states`: what the gateway knows of many stations at once, for the
operator's status loop (one request per namespace per interval, not one per station): each
station's view (online, connectors, boot, heartbeat), where its desired configuration stands,
and the charging profiles it holds. A station that is not registered is left out."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from chargeplane.common.keys import DB_POOL
from chargeplane.common.station_ids import is_valid_station_id
from chargeplane.common.web import json_response, read_json

from . import charging_profiles
from .keys import CONFIGURATION
from .station_overview import StationOverview

# a namespace's stations in one request: the gateway scales to 5,000 per replica and 10 replicas
MAX_STATIONS = 50_000


class StationStatesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    station_ids: list[str] = Field(max_length=MAX_STATIONS)
    # the stations whose configuration state is wanted too (those with keys to enforce): it costs
    # more than the rest together, so only they pay for it
    configuration_of: list[str] = Field(default_factory=list, max_length=MAX_STATIONS)


async def station_states(request: web.Request) -> web.Response:
    query = StationStatesQuery.model_validate(await read_json(request))
    ids = [station_id for station_id in dict.fromkeys(query.station_ids) if is_valid_station_id(station_id)]
    pool = request.app[DB_POOL]
    views = await StationOverview(pool).views(ids)
    profiles = await charging_profiles.profiles_of(pool, list(views))
    repository = request.app[CONFIGURATION].repository
    states: dict[str, dict[str, Any]] = {}
    for station_id, view in views.items():
        configuration = await repository.load(station_id) if station_id in query.configuration_of else None
        states[station_id] = {"view": view, "charging_profiles": profiles[station_id],
                              "configuration": configuration.to_json(station_id) if configuration else None}
    return json_response({"stations": states})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/internal/stations/states", station_states)
