"""The local authorization list each station holds (OCPP 1.6 Local Auth List Management).

The list is the auth service's id-tag table: every change to it takes the next list
version there (see migration 0005), and auth answers with the whole list or with what
changed after a version. The gateway keeps, per station, the version the station holds
(`station_local_lists`), from its answers to SendLocalList and GetLocalListVersion, so a
differential update carries exactly what the station lacks.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import asyncpg
import structlog
from aiohttp import web

from chargeplane.common.keys import HTTP, SETTINGS
from chargeplane.common.web import ApiError

from . import schemas
from .settings import OcppSettings

log = structlog.get_logger(__name__)

COLUMNS = "station_id, list_version, last_update_type, last_update_version, last_update_status, updated_at"


async def record_reply(pool: asyncpg.Pool, station_id: str, action: str, payload: dict[str, Any],
                       reply: dict[str, Any]) -> None:
    """Keep what a SendLocalList or GetLocalListVersion told about the station's list."""
    if action not in ("SendLocalList", "GetLocalListVersion"):
        return
    if not schemas.validator(f"{action}Response").is_valid(reply):
        log.warning("station reply not recorded", station_id=station_id, action=action, reply=reply)
        return
    if action == "GetLocalListVersion":
        await pool.execute(
            "INSERT INTO station_local_lists (station_id, list_version) VALUES ($1, $2)"
            " ON CONFLICT (station_id) DO UPDATE SET list_version = $2, updated_at = now()",
            station_id, reply["listVersion"],
        )
    else:
        status = reply["status"]
        # Accepted: the station holds the version sent. VersionMismatch: it holds another one,
        # which only GetLocalListVersion would tell. Failed, NotSupported: it kept what it had.
        await pool.execute(
            "INSERT INTO station_local_lists (station_id, list_version, last_update_type, last_update_version,"
            " last_update_status) VALUES ($1, CASE WHEN $4 = 'Accepted' THEN $3::int END, $2, $3, $4)"
            " ON CONFLICT (station_id) DO UPDATE SET list_version = CASE $4 WHEN 'Accepted' THEN $3"
            " WHEN 'VersionMismatch' THEN NULL ELSE station_local_lists.list_version END,"
            " last_update_type = $2, last_update_version = $3, last_update_status = $4, updated_at = now()",
            station_id, payload["updateType"], payload["listVersion"], status,
        )
        log.info("local list sent", station_id=station_id, update_type=payload["updateType"],
                 list_version=payload["listVersion"], entries=len(payload.get("localAuthorizationList", [])),
                 status=status)


async def id_tag_list(app: web.Application, since: int | None) -> dict[str, Any]:
    """The id tags from auth as a local list: `list_version`, `update_type` (Full, or
    Differential when `since` is a version auth can answer from) and
    `local_authorization_list`."""
    return await _from_auth(app, "/internal/auth/local-list", {} if since is None else {"since": str(since)})


async def current_version(app: web.Application) -> int:
    version: int = (await _from_auth(app, "/internal/auth/local-list/version", {}))["list_version"]
    return version


async def _from_auth(app: web.Application, path: str, params: dict[str, str]) -> dict[str, Any]:
    settings = app[SETTINGS]
    assert isinstance(settings, OcppSettings)
    try:
        async with app[HTTP].get(settings.auth_url + path, params=params) as response:
            if response.status == 200:
                answer: dict[str, Any] = await response.json()
                return answer
            problem = f"auth answered {response.status}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        problem = repr(exc)
    raise ApiError(503, "auth_unavailable", f"the id tags could not be read: {problem}")
