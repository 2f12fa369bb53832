"""The gateway's internal smart-charging API: the profiles a station holds, and charging sites.

`GET /internal/stations/{id}/charging-profiles`; `GET /internal/charging-sites`,
`GET/PUT/DELETE /internal/charging-sites/{site_id}`. Profiles are set and cleared with the
commands (`/internal/stations/{id}/commands/SetChargingProfile` ...).
"""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from chargeplane.common.keys import DB_POOL
from chargeplane.common.station_ids import StationId
from chargeplane.common.web import ApiError, json_response, read_json

from . import charging_profiles
from .keys import SITES
from .site_limits import SITE_PROFILE_ID_BASE, share_w


class SiteDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_power_w: int = Field(ge=1, le=2**31 - 1)
    station_ids: list[StationId] = Field(default_factory=list, max_length=1000)


def _site_id(request: web.Request) -> str:
    site_id = request.match_info["site_id"]
    if not 0 < len(site_id) <= 64:
        raise ApiError(400, "invalid_site_id", "a site id has 1 to 64 characters")
    return site_id


async def list_station_profiles(request: web.Request) -> web.Response:
    station_id = request.match_info["station_id"]
    pool = request.app[DB_POOL]
    if await pool.fetchval("SELECT 1 FROM charging_stations WHERE id = $1", station_id) is None:
        raise ApiError(404, "station_not_found", f"station {station_id!r} is not registered")
    return json_response({"station_id": station_id,
                          "items": await charging_profiles.list_profiles(pool, station_id)})


async def _site_view(pool: asyncpg.Pool, site_id: str) -> dict[str, Any] | None:
    site = await pool.fetchrow("SELECT id, max_power_w, created_at, updated_at FROM charging_sites WHERE id = $1",
                               site_id)
    if site is None:
        return None
    stations = await pool.fetch("SELECT station_id FROM charging_site_stations WHERE site_id = $1"
                                " ORDER BY station_id", site_id)
    # each active session, with the share its station accepted for it (null until then)
    sessions = await pool.fetch(
        "SELECT c.station_id, c.connector_id, c.transaction_id,"
        " (p.profile #>> '{chargingSchedule,chargingSchedulePeriod,0,limit}')::float8 AS limit_w"
        " FROM charging_site_stations m JOIN connectors c USING (station_id)"
        " LEFT JOIN charging_profiles p ON p.station_id = c.station_id"
        " AND p.charging_profile_id = $2 + c.connector_id AND p.transaction_id = c.transaction_id"
        " WHERE m.site_id = $1 AND c.transaction_id IS NOT NULL AND NOT c.transaction_ended"
        " ORDER BY c.station_id, c.connector_id",
        site_id, SITE_PROFILE_ID_BASE,
    )
    return {**dict(site), "station_ids": [r["station_id"] for r in stations],
            "share_w": share_w(site["max_power_w"], len(sessions)), "sessions": [dict(r) for r in sessions]}


async def list_sites(request: web.Request) -> web.Response:
    pool = request.app[DB_POOL]
    ids = await pool.fetch("SELECT id FROM charging_sites ORDER BY id")
    return json_response({"items": [await _site_view(pool, r["id"]) for r in ids]})


async def get_site(request: web.Request) -> web.Response:
    site_id = _site_id(request)
    view = await _site_view(request.app[DB_POOL], site_id)
    if view is None:
        raise ApiError(404, "site_not_found", f"no charging site {site_id!r}")
    return json_response(view)


async def put_site(request: web.Request) -> web.Response:
    """Create or change a site: its limit and its stations (each in one site at most)."""
    site_id = _site_id(request)
    body = SiteDefinition.model_validate(await read_json(request) if request.can_read_body else {})
    wanted = sorted(set(body.station_ids))
    pool = request.app[DB_POOL]
    async with pool.acquire() as conn, conn.transaction():
        known = {r["id"] for r in await conn.fetch("SELECT id FROM charging_stations WHERE id = ANY($1::text[])",
                                                   wanted)}
        if unknown := [s for s in wanted if s not in known]:
            raise ApiError(422, "station_not_found", f"stations not registered: {', '.join(unknown)}",
                           {"stations": unknown})
        created = await conn.fetchval(
            "INSERT INTO charging_sites (id, max_power_w) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE"
            " SET max_power_w = $2, updated_at = now() RETURNING (xmax = 0)", site_id, body.max_power_w)
        elsewhere = await conn.fetch("SELECT station_id, site_id FROM charging_site_stations"
                                     " WHERE station_id = ANY($1::text[]) AND site_id <> $2", wanted, site_id)
        if elsewhere:
            raise ApiError(409, "station_in_another_site", "a station belongs to one charging site at most",
                           {r["station_id"]: r["site_id"] for r in elsewhere})
        left = await conn.fetch("DELETE FROM charging_site_stations WHERE site_id = $1"
                                " AND NOT station_id = ANY($2::text[]) RETURNING station_id", site_id, wanted)
        await conn.execute("INSERT INTO charging_site_stations (station_id, site_id)"
                           " SELECT unnest($1::text[]), $2 ON CONFLICT DO NOTHING", wanted, site_id)
    balancer = request.app[SITES]
    for row in left:
        balancer.release(row["station_id"])
    balancer.site_changed(site_id)
    return json_response(await _site_view(pool, site_id), status=201 if created else 200)


async def delete_site(request: web.Request) -> web.Response:
    """Delete a site; its stations keep no share of it. Idempotent."""
    site_id = _site_id(request)
    async with request.app[DB_POOL].acquire() as conn, conn.transaction():
        members = await conn.fetch("DELETE FROM charging_site_stations WHERE site_id = $1 RETURNING station_id",
                                   site_id)
        await conn.execute("DELETE FROM charging_sites WHERE id = $1", site_id)
    for row in members:
        request.app[SITES].release(row["station_id"])
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/internal/stations/{station_id}/charging-profiles", list_station_profiles)
    app.router.add_get("/internal/charging-sites", list_sites)
    app.router.add_get("/internal/charging-sites/{site_id}", get_site)
    app.router.add_put("/internal/charging-sites/{site_id}", put_site)
    app.router.add_delete("/internal/charging-sites/{site_id}", delete_site)
