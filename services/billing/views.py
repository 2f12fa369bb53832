"""The billing service's HTTP views."""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal

import aiohttp
import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from chargeplane.common.keys import HTTP, SETTINGS
from chargeplane.common.metrics import DOWNSTREAM_SECONDS
from chargeplane.common.web import ApiError, json_response, read_json

from .keys import READING_WAITS, REPOSITORY
from .models import SessionStopped
from .pricing import MeterSample, SessionUsage, Tariff, price_session
from .readings import missing_readings
from .settings import BillingSettings

log = structlog.get_logger(__name__)
# the latency histogram's path label: one series for all sessions
ENERGY_SAMPLES_PATH = "/internal/sessions/{session_id}/energy-samples"


async def _energy_samples(request: web.Request, session_id: int) -> list[MeterSample]:
    """The session's energy register series, from telemetry (it tells charging from parking)."""
    settings = request.app[SETTINGS]
    assert isinstance(settings, BillingSettings)
    url = f"{settings.telemetry_url}/internal/sessions/{session_id}/energy-samples"
    started = time.perf_counter()
    async with request.app[HTTP].get(url) as response:
        outcome = "ok" if response.status == 200 else "retry"
        DOWNSTREAM_SECONDS.labels("telemetry", ENERGY_SAMPLES_PATH, outcome).observe(time.perf_counter() - started)
        if response.status != 200:
            raise ApiError(503, "telemetry_unavailable", f"telemetry answered {response.status}")
        body = await response.json()
    return [MeterSample(at=datetime.fromisoformat(s["at"]), energy_wh=Decimal(s["energy_wh"]))
            for s in body["samples"]]


async def session_stopped(request: web.Request) -> web.Response:
    session = SessionStopped.model_validate(await read_json(request))
    repository = request.app[REPOSITORY]
    try:
        tariff = await repository.tariff_for(session.station_id)
        try:
            samples = await _energy_samples(request, session.session_id)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(503, "telemetry_unavailable", repr(exc)) from exc
        if missing := missing_readings(samples, session.awaited_readings):
            if request.app[READING_WAITS].may_wait(session.session_id):
                raise ApiError(503, "meter_values_pending", "telemetry does not hold the session's meter readings"
                               f" of {', '.join(map(str, missing))} yet; retry later")
            log.warning("bill priced without the last meter reading", session_id=session.session_id,
                        missing=[str(at) for at in missing])
        request.app[READING_WAITS].settled(session.session_id)
        bill = price_session(tariff, SessionUsage(
            started_at=session.started_at, stopped_at=session.stopped_at, meter_start_wh=session.meter_start_wh,
            meter_stop_wh=session.meter_stop_wh, samples=samples,
        ))
        saved, created = await repository.save_bill(session, bill)
    except Exception as exc:
        log.warning("failed to create billing transaction", session_id=session.session_id, error=repr(exc))
        raise
    if created:
        log.info("billing transaction created", session_id=session.session_id, amount=saved["amount_incl_tax"],
                 currency=saved["currency"])
    return json_response(saved, status=201 if created else 200)


class BillQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    session_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    station_id: str | None = None
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)


async def list_bills(request: web.Request) -> web.Response:
    query = BillQuery.model_validate(dict(request.query))
    items = await request.app[REPOSITORY].bills(query.session_id, query.station_id, query.limit, query.offset)
    return json_response({"items": items, "limit": query.limit, "offset": query.offset})


async def list_tariffs(request: web.Request) -> web.Response:
    return json_response({"items": await request.app[REPOSITORY].tariffs()})


async def put_tariff(request: web.Request) -> web.Response:
    body = await read_json(request)
    tariff = Tariff.model_validate({**body, "id": request.match_info["tariff_id"]})
    await request.app[REPOSITORY].save_tariff(tariff)
    return json_response(tariff.model_dump(mode="json"))


async def get_tariff(request: web.Request) -> web.Response:
    tariff = await request.app[REPOSITORY].tariff(request.match_info["tariff_id"])
    if tariff is None:
        raise ApiError(404, "tariff_not_found", f"no tariff {request.match_info['tariff_id']!r}")
    return json_response(tariff)


async def delete_tariff(request: web.Request) -> web.Response:
    tariff_id = request.match_info["tariff_id"]
    if tariff_id == "default":
        raise ApiError(409, "tariff_is_default", "the default tariff cannot be deleted")
    users = await request.app[REPOSITORY].delete_tariff(tariff_id)
    if users:
        raise ApiError(409, "tariff_in_use", f"{len(users)} station(s) still bill with tariff {tariff_id!r}",
                       {"stations": users})
    return web.Response(status=204)


async def put_station_tariff(request: web.Request) -> web.Response:
    body = await read_json(request)
    tariff_id = body.get("tariff_id") if isinstance(body, dict) else None
    if not isinstance(tariff_id, str):
        raise ApiError(422, "invalid_request", "body must be {\"tariff_id\": \"...\"}")
    if await request.app[REPOSITORY].tariff(tariff_id) is None:
        raise ApiError(404, "tariff_not_found", f"no tariff {tariff_id!r}")
    await request.app[REPOSITORY].assign(request.match_info["station_id"], tariff_id)
    return json_response({"station_id": request.match_info["station_id"], "tariff_id": tariff_id})


async def delete_station_tariff(request: web.Request) -> web.Response:
    await request.app[REPOSITORY].assign(request.match_info["station_id"], None)
    return web.Response(status=204)
