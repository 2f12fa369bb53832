"""The smart-charging part of the internal API: the profiles a station holds, and charging sites.

`GET /internal/stations/{id}/charging-profiles`; `GET /internal/charging-sites`,
`GET/PUT/DELETE /internal/charging-sites/{site_id}`. Profiles are set and cleared with the
commands (`/internal/stations/{id}/commands/SetChargingProfile` ...).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from chargeplane.common.station_ids import StationId
from chargeplane.common.web import ApiError, json_response, read_json
from chargeplane.services.ocpp.core.api import require_station
from chargeplane.services.ocpp.core.feature import StatesQuery

from .balancer import SITES
from .repository import SMART_CHARGING, StationsInOtherSites, UnknownStations
from .sites import share_w

routes = web.RouteTableDef()


class SiteDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_power_w: int = Field(ge=1, le=2**31 - 1)
    station_ids: list[StationId] = Field(default_factory=list, max_length=1000)


def _site_id(request: web.Request) -> str:
    site_id = request.match_info["site_id"]
    if not 0 < len(site_id) <= 64:
        raise ApiError(400, "invalid_site_id", "a site id has 1 to 64 characters")
    return site_id


@routes.get("/internal/stations/{station_id}/charging-profiles")
async def list_station_profiles(request: web.Request) -> web.Response:
    station_id = request.match_info["station_id"]
    await require_station(request, station_id)
    return json_response({"station_id": station_id, "items": await request.app[SMART_CHARGING].profiles(station_id)})


async def _site_view(request: web.Request, site_id: str) -> dict[str, object] | None:
    site = await request.app[SMART_CHARGING].site(site_id)
    if site is None:
        return None
    return {**site, "share_w": share_w(site["max_power_w"], len(site["sessions"]))}


@routes.get("/internal/charging-sites")
async def list_sites(request: web.Request) -> web.Response:
    return json_response({"items": [await _site_view(request, site_id)
                                    for site_id in await request.app[SMART_CHARGING].site_ids()]})


@routes.get("/internal/charging-sites/{site_id}")
async def get_site(request: web.Request) -> web.Response:
    site_id = _site_id(request)
    view = await _site_view(request, site_id)
    if view is None:
        raise ApiError(404, "site_not_found", f"no charging site {site_id!r}")
    return json_response(view)


@routes.put("/internal/charging-sites/{site_id}")
async def put_site(request: web.Request) -> web.Response:
    """Create or change a site: its limit and its stations (each in one site at most)."""
    site_id = _site_id(request)
    body = SiteDefinition.model_validate(await read_json(request) if request.can_read_body else {})
    try:
        saved = await request.app[SMART_CHARGING].save_site(site_id, body.max_power_w, sorted(set(body.station_ids)))
    except UnknownStations as exc:
        raise ApiError(422, "station_not_found", str(exc), {"stations": exc.station_ids}) from exc
    except StationsInOtherSites as exc:
        raise ApiError(409, "station_in_another_site", str(exc), exc.sites) from exc
    balancer = request.app[SITES]
    for station_id in saved.left:
        balancer.release(station_id)
    balancer.site_changed(site_id)
    return json_response(await _site_view(request, site_id), status=201 if saved.created else 200)


@routes.delete("/internal/charging-sites/{site_id}")
async def delete_site(request: web.Request) -> web.Response:
    """Delete a site; its stations keep no share of it. Idempotent."""
    site_id = _site_id(request)
    for station_id in await request.app[SMART_CHARGING].delete_site(site_id):
        request.app[SITES].release(station_id)
    return web.Response(status=204)


async def station_states(app: web.Application, query: StatesQuery) -> dict[str, dict[str, Any]]:
    """The charging profiles each station holds (the operator's status: is its limit held?)."""
    held = await app[SMART_CHARGING].profiles_of(query.station_ids)
    return {station_id: {"charging_profiles": profiles} for station_id, profiles in held.items()}
