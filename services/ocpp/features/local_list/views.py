"""Pushing the id tags to the stations' local authorization lists, and what they hold.

`POST /internal/stations/{id}/local-list` sends one station a SendLocalList: Full (every id
tag), or Differential (what changed since the version the station holds; Full when that
version is unknown or 0, nothing at all when the station is up to date, and Full once more
when the station answers VersionMismatch). `POST /internal/local-list/push` does the same
for every connected station. `GET /internal/stations/{id}/local-list` shows what is held.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from chargeplane.common.web import ApiError, json_response, read_json
from chargeplane.services.ocpp.core.api import require_station, send_checked
from chargeplane.services.ocpp.core.repository import STATIONS

from .auth_lists import current_version, id_tag_list
from .repository import LOCAL_LISTS

routes = web.RouteTableDef()

# How many stations one push-to-all talks to at once.
PUSH_CONCURRENCY = 50

UpdateType = Literal["Full", "Differential"]


class PushRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    update_type: UpdateType = "Differential"


class Listings:
    """The id-tag lists one push reads from auth, each once: stations that hold the same
    version get the same differential."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._by_since: dict[int | None, dict[str, Any]] = {}

    async def since(self, version: int | None) -> dict[str, Any]:
        if version not in self._by_since:
            self._by_since[version] = await id_tag_list(self._app, version)
        return self._by_since[version]


async def push(request: web.Request, station_id: str, update_type: UpdateType, listings: Listings) -> dict[str, Any]:
    held = await request.app[LOCAL_LISTS].held_version(station_id)
    differential_from = held if update_type == "Differential" and held is not None and held > 0 else None
    listing = await listings.since(differential_from)
    entries = listing["local_authorization_list"]
    result = {"station_id": station_id, "update_type": listing["update_type"], "list_version": listing["list_version"],
              "entries": len(entries)}
    if listing["update_type"] == "Differential" and listing["list_version"] == differential_from:
        return {**result, "status": "UpToDate"}  # nothing to send: the same version again is a VersionMismatch
    payload = {"listVersion": listing["list_version"], "updateType": listing["update_type"],
               "localAuthorizationList": entries}
    outcome = await send_checked(request, station_id, "SendLocalList", payload)
    status = outcome.payload["status"]
    if status == "VersionMismatch" and listing["update_type"] == "Differential":
        return await push(request, station_id, "Full", listings)
    return {**result, "status": status}


async def _push_request(request: web.Request) -> PushRequest:
    return PushRequest.model_validate(await read_json(request) if request.can_read_body else {})


@routes.post("/internal/stations/{station_id}/local-list")
async def push_to_station(request: web.Request) -> web.Response:
    body = await _push_request(request)
    return json_response(await push(request, request.match_info["station_id"], body.update_type,
                                    Listings(request.app)))


@routes.post("/internal/local-list/push")
async def push_to_all(request: web.Request) -> web.Response:
    """Every connected station; one station's failure (offline since, timeout) is its own item."""
    body = await _push_request(request)
    listings = Listings(request.app)
    slots = asyncio.Semaphore(PUSH_CONCURRENCY)

    async def push_one(station_id: str) -> dict[str, Any]:
        async with slots:
            try:
                return await push(request, station_id, body.update_type, listings)
            except ApiError as exc:
                return {"station_id": station_id, "status": "NotSent", "error": {"code": exc.code,
                                                                                "message": exc.message}}

    items = await asyncio.gather(*(push_one(station_id) for station_id in await request.app[STATIONS].connected()))
    return json_response({"items": items})


@routes.get("/internal/stations/{station_id}/local-list")
async def get_station_list(request: web.Request) -> web.Response:
    station_id = request.match_info["station_id"]
    await require_station(request, station_id)
    held = await request.app[LOCAL_LISTS].held(station_id) or {
        "station_id": station_id, "list_version": None, "last_update_type": None, "last_update_version": None,
        "last_update_status": None, "updated_at": None}
    return json_response({**held, "current_version": await current_version(request.app)})
