"""The sessions service's HTTP views; thin: parse, call the repository, answer."""

from __future__ import annotations

from typing import Literal

import structlog
from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from chargeplane.common.keys import OUTBOX
from chargeplane.common.tracing import current_traceparent
from chargeplane.common.web import ApiError, json_response, read_json

from .keys import REPOSITORY
from .models import SessionStart, SessionStop, StationBooted

log = structlog.get_logger(__name__)


async def session_start(request: web.Request) -> web.Response:
    start = SessionStart.model_validate(await read_json(request))
    try:
        session = await request.app[REPOSITORY].start(start, current_traceparent())
    except Exception:
        log.exception("start session failed", transaction_id=start.transaction_id, station_id=start.station_id)
        raise
    request.app[OUTBOX].wake()
    return json_response(session, status=201)


async def session_stop(request: web.Request) -> web.Response:
    stop = SessionStop.model_validate(await read_json(request))
    try:
        outcome, session = await request.app[REPOSITORY].stop(stop, current_traceparent())
    except Exception:
        log.exception("stop session failed", transaction_id=stop.transaction_id, station_id=stop.station_id)
        raise
    request.app[OUTBOX].wake()
    return json_response({"outcome": outcome, "session": session})


async def station_booted(request: web.Request) -> web.Response:
    booted = StationBooted.model_validate(await read_json(request))
    closed = await request.app[REPOSITORY].close_after_reboot(
        booted.station_id, booted.open_transactions, current_traceparent()
    )
    request.app[OUTBOX].wake()
    return json_response({"closed": closed})


async def get_session(request: web.Request) -> web.Response:
    try:
        session_id = int(request.match_info["session_id"])
    except ValueError as exc:
        raise ApiError(400, "invalid_session_id", "session id must be an integer") from exc
    session = await request.app[REPOSITORY].get(session_id)
    if session is None:
        raise ApiError(404, "session_not_found", f"no session {session_id}")
    return json_response(session)


async def active_sessions(request: web.Request) -> web.Response:
    station_id = request.query.get("station_id")
    if not station_id:
        raise ApiError(400, "station_id_required", "query parameter station_id is required")
    return json_response({"items": await request.app[REPOSITORY].active(station_id)})


class SessionQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    station_id: str | None = None
    status: Literal["active", "completed"] | None = None
    started_from: AwareDatetime | None = Field(default=None, alias="from")
    started_to: AwareDatetime | None = Field(default=None, alias="to")
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)


async def search_sessions(request: web.Request) -> web.Response:
    query = SessionQuery.model_validate(dict(request.query))
    items = await request.app[REPOSITORY].search(query.station_id, query.status, query.started_from,
                                                 query.started_to, query.limit, query.offset)
    return json_response({"items": items, "limit": query.limit, "offset": query.offset})
