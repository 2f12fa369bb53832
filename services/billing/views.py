"""The billing service's HTTP views."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chargeplane.common.batching import together_or_alone
from chargeplane.common.event_batches import MergedEvent
from chargeplane.common.httpclient import HTTP
from chargeplane.common.metrics import DOWNSTREAM_SECONDS
from chargeplane.common.outbox_events import SESSION_STOPPED, SessionStopped, parse
from chargeplane.common.web import ApiError, error_response, json_response, read_json

from .pricing import Bill, MeterSample, SessionUsage, Tariff, price_session
from .readings import READING_WAITS, missing_readings
from .repository import REPOSITORY
from .settings import BILLING_SETTINGS

log = structlog.get_logger(__name__)
ENERGY_SERIES_PATH = "/internal/energy-samples"


async def _energy_series(app: web.Application, session_ids: list[int]) -> dict[int, list[MeterSample]]:
    """The sessions' energy register readings, from telemetry (they tell charging from
    parking); one request for all."""
    settings = app[BILLING_SETTINGS]
    started = time.perf_counter()
    try:
        async with app[HTTP].post(settings.telemetry_url + ENERGY_SERIES_PATH,
                                  json={"session_ids": session_ids}) as response:
            outcome = "ok" if response.status == 200 else "retry"
            DOWNSTREAM_SECONDS.labels("telemetry", ENERGY_SERIES_PATH, outcome).observe(time.perf_counter() - started)
            if response.status != 200:
                raise ApiError(503, "telemetry_unavailable", f"telemetry answered {response.status}")
            body = await response.json()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ApiError(503, "telemetry_unavailable", repr(exc)) from exc
    return {int(session_id): [MeterSample(at=datetime.fromisoformat(s["at"]), energy_wh=Decimal(s["energy_wh"]))
                              for s in samples]
            for session_id, samples in body["sessions"].items()}


def _failed(session: SessionStopped, exc: Exception) -> web.Response:
    log.warning("failed to create billing transaction", session_id=session.session_id, error=repr(exc))
    return error_response(exc, SESSION_STOPPED)


def _price(app: web.Application, session: SessionStopped, tariff: Tariff, samples: list[MeterSample]) -> Bill:
    """The session's bill, once telemetry holds the readings it awaits (or it has waited long enough)."""
    waits = app[READING_WAITS]
    if missing := missing_readings(samples, session.awaited_readings):
        if waits.may_wait(session.session_id):
            raise ApiError(503, "meter_values_pending", "telemetry does not hold the session's meter readings"
                           f" of {', '.join(map(str, missing))} yet; retry later")
        log.warning("bill priced without the last meter reading", session_id=session.session_id,
                    missing=[str(at) for at in missing])
    waits.settled(session.session_id)
    return price_session(tariff, SessionUsage(
        started_at=session.started_at, stopped_at=session.stopped_at, meter_start_wh=session.meter_start_wh,
        meter_stop_wh=session.meter_stop_wh, samples=samples,
    ))


async def _bill(app: web.Application, sessions: list[SessionStopped]) -> list[web.Response]:
    """Price and save the bills of these sessions (each once among them): one tariff lookup,
    one request to telemetry and one INSERT for all; a bill that fails, fails alone."""
    repository = app[REPOSITORY]
    try:
        tariffs = await repository.tariffs_for(session.station_id for session in sessions)
        series = await _energy_series(app, [session.session_id for session in sessions])
    except Exception as exc:
        return [_failed(session, exc) for session in sessions]
    answers: dict[int, web.Response] = {}
    priced: list[tuple[SessionStopped, Bill]] = []
    for session in sessions:
        try:
            priced.append((session, _price(app, session, tariffs[session.station_id],
                                           series.get(session.session_id, []))))
        except Exception as exc:
            answers[session.session_id] = _failed(session, exc)
    saved: dict[int, tuple[dict[str, Any], bool]] = {}

    def settle(item: tuple[SessionStopped, Bill], outcome: tuple[dict[str, Any], bool] | Exception) -> None:
        session = item[0]
        if isinstance(outcome, Exception):
            answers[session.session_id] = _failed(session, outcome)
        else:
            saved[session.session_id] = outcome

    if priced:
        await together_or_alone(priced, repository.save_bills, settle)
    for session_id, (bill, created) in saved.items():
        if created:
            log.info("billing transaction created", session_id=session_id, amount=bill["amount_incl_tax"],
                     currency=bill["currency"])
        answers[session_id] = json_response(bill, status=201 if created else 200)
    return [answers[session.session_id] for session in sessions]


async def session_stopped(request: web.Request) -> web.Response:
    session = parse(SessionStopped, await read_json(request))
    [answer] = await _bill(request.app, [session])
    return answer


async def sessions_stopped(app: web.Application, events: Sequence[MergedEvent]) -> list[web.Response | None]:
    """A relay round's finished sessions (`event_batches` merged view), billed together. A
    session's second event in the round (closed on reboot, then stopped by its station) is
    left for the relay's next round: its bill is one row, written by one event at a time."""
    answers: list[web.Response | None] = [None] * len(events)
    first: dict[int, tuple[int, SessionStopped]] = {}
    for position, event in enumerate(events):
        try:
            session = parse(SessionStopped, event.payload)
        except ValidationError as exc:
            answers[position] = error_response(exc, event.path)
            continue
        first.setdefault(session.session_id, (position, session))
    billed = await _bill(app, [session for _, session in first.values()]) if first else []
    for (position, _), answer in zip(first.values(), billed, strict=True):
        answers[position] = answer
    return answers


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
