"""The local authorization list each station holds (OCPP 1.6 Local Auth List Management).

The list is the auth service's id-tag table (`auth_lists`). The gateway keeps, per station, the
version the station holds, from its answers to SendLocalList and GetLocalListVersion, so a
differential update carries exactly what the station lacks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import structlog
from aiohttp import web

from chargeplane.common.db import DB_POOL
from chargeplane.services.ocpp.core.commands import Command

from .repository import LOCAL_LISTS, StationLocalLists

log = structlog.get_logger(__name__)


async def record_reply(app: web.Application, command: Command, reply: dict[str, Any]) -> None:
    """Keep what a SendLocalList or GetLocalListVersion told about the station's list."""
    lists, station_id, payload = app[LOCAL_LISTS], command.station_id, command.payload
    if command.action == "GetLocalListVersion":
        await lists.record_version(station_id, reply["listVersion"])
        return
    await lists.record_update(station_id, payload["updateType"], payload["listVersion"], reply["status"])
    log.info("local list sent", station_id=station_id, update_type=payload["updateType"],
             list_version=payload["listVersion"], entries=len(payload.get("localAuthorizationList", [])),
             status=reply["status"])


async def local_lists_context(app: web.Application) -> AsyncIterator[None]:
    app[LOCAL_LISTS] = StationLocalLists(app[DB_POOL])
    yield
