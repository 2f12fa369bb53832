"""What the internal API's views share: paging, and sending a command to a station on behalf
of the API (checked before anything is sent; anything but a valid reply is an ApiError)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from chargeplane.common.web import ApiError

from . import schemas
from .commands import COMMANDS, Command, CommandOutcome
from .feature import FEATURES
from .protocol import OcppError
from .repository import STATIONS

DEFAULT_WAIT_S = 30.0
MAX_WAIT_S = 120.0


class Page(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=2**31)


def valid_payload(action: str, payload: dict[str, Any]) -> None:
    """A 422 naming the field for a payload the action's official schema refuses."""
    try:
        schemas.validate(action, payload)
    except OcppError as exc:
        raise ApiError(422, "invalid_payload", exc.description, exc.details) from exc


def wait_seconds(request: web.Request) -> float:
    """How long to wait for the station's reply: `?timeout=`, bounded."""
    try:
        return min(max(float(request.query.get("timeout", DEFAULT_WAIT_S)), 1.0), MAX_WAIT_S)
    except ValueError as exc:
        raise ApiError(400, "invalid_timeout", "timeout is a number of seconds") from exc


async def require_station(request: web.Request, station_id: str) -> None:
    if not await request.app[STATIONS].exists(station_id):
        raise ApiError(404, "station_not_found", f"station {station_id!r} is not registered")


async def send_checked(request: web.Request, station_id: str, action: str, payload: dict[str, Any]) -> CommandOutcome:
    """Check the payload (the action's schema, then what the features refuse), send it, and
    return the outcome of a valid reply; anything else (unknown station, offline, timeout,
    CALLERROR, a reply that breaks its schema) is an ApiError."""
    valid_payload(action, payload)
    within_s = wait_seconds(request)
    await require_station(request, station_id)
    await request.app[FEATURES].check(Command(station_id, action, payload))
    outcome = await request.app[COMMANDS].send(station_id, action, payload, within_s)
    station_reply(station_id, outcome, within_s)
    return outcome


def station_reply(station_id: str, outcome: CommandOutcome, within_s: float) -> dict[str, Any]:
    """The station's CALLRESULT payload, or the ApiError for a command it did not answer so."""
    if outcome.status == "offline":
        raise ApiError(409, "station_offline", f"station {station_id!r} is not connected")
    if outcome.status == "timeout":
        raise ApiError(504, "station_timeout", f"station {station_id!r} did not answer within {within_s:g} s")
    if outcome.status == "error":
        raise ApiError(502, "station_call_error", f"station answered CALLERROR {outcome.payload['errorCode']}",
                       outcome.payload)
    if outcome.status == "invalid":
        raise ApiError(502, "station_reply_invalid", "station answered with a reply that breaks the OCPP schema: "
                       f"{outcome.payload['errorDescription']}", outcome.payload)
    return outcome.payload
