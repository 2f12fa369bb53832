"""The telemetry service's HTTP views."""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from chargeplane.common.web import ApiError, json_response, read_json

from .keys import REPOSITORY
from .models import MeterValuesBatch
from .repository import InvalidSample, rows_of

log = structlog.get_logger(__name__)
ENTRIES = TypeAdapter(list[MeterValuesBatch])  # one validation call for a whole batch


async def store_meter_values(request: web.Request) -> web.Response:
    body = await read_json(request)
    try:
        batch = MeterValuesBatch.model_validate(body)
        stored = await request.app[REPOSITORY].store(rows_of(batch))
    except (ValidationError, InvalidSample) as exc:
        log.warning("failed to store meter value", error=str(exc),
                    station_id=body.get("station_id") if isinstance(body, dict) else None)
        if isinstance(exc, ValidationError):
            raise
        raise ApiError(422, "invalid_sampled_value", str(exc)) from exc
    except Exception:
        log.exception("failed to store meter value", station_id=body.get("station_id"))
        raise
    return json_response({"stored": stored}, status=201)


async def store_meter_values_batch(request: web.Request) -> web.Response:
    """The MeterValues of many stations (the gateway sends one such event per commit),
    stored by one INSERT. An invalid entry does not hold back the valid ones: they are
    stored, and the answer is a 422 naming the invalid ones, so the gateway keeps the
    event as a dead letter for the operator."""
    body = await read_json(request)
    entries = body.get("meter_values") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise ApiError(422, "invalid_request", "body must be {\"meter_values\": [...]}")
    invalid: list[dict[str, object]] = []
    try:
        valid = list(enumerate(ENTRIES.validate_python(entries)))
    except ValidationError:  # find the bad ones; the rest go in
        valid = []
        for position, entry in enumerate(entries):
            try:
                valid.append((position, MeterValuesBatch.model_validate(entry)))
            except ValidationError as exc:
                invalid.append({"index": position, "error": str(exc)[:300]})
    rows: list[tuple[Any, ...]] = []
    for position, batch in valid:
        try:
            rows.extend(rows_of(batch))
        except InvalidSample as exc:
            invalid.append({"index": position, "error": str(exc)})
    try:
        stored = await request.app[REPOSITORY].store(rows)
    except Exception:
        log.exception("failed to store meter value", entries=len(valid) - len(invalid))
        raise
    if invalid:
        log.warning("failed to store meter value", invalid=invalid[:10], stored=stored)
        raise ApiError(422, "invalid_sampled_value", f"{len(invalid)} of {len(entries)} entries are invalid",
                       invalid[:50])
    return json_response({"stored": stored}, status=201)


async def energy_samples(request: web.Request) -> web.Response:
    try:
        session_id = int(request.match_info["session_id"])
    except ValueError as exc:
        raise ApiError(400, "invalid_session_id", "session id must be an integer") from exc
    return json_response({"session_id": session_id,
                          "samples": await request.app[REPOSITORY].energy_samples(session_id)})


async def refresh_rollups(request: web.Request) -> web.Response:
    await request.app[REPOSITORY].refresh_rollups()
    return json_response({"refreshed": True})
