"""The telemetry service's HTTP views."""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web
from pydantic import ValidationError

from chargeplane.common.web import ApiError, json_response, read_json

from .keys import REPOSITORY
from .models import MeterValuesBatch, MeterValuesEvent
from .repository import InvalidSample, rows_of

log = structlog.get_logger(__name__)


async def store_meter_values(request: web.Request) -> web.Response:
    body = await read_json(request)
    try:
        batch = MeterValuesBatch.model_validate(body)
        stored = await request.app[REPOSITORY].store([batch])
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
    """Many outbox events in one request (the gateway's relay batches them): every valid
    one is stored by one INSERT, each invalid one is answered `rejected` on its own."""
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise ApiError(422, "invalid_request", "body must be {\"events\": [...]}")
    results: list[dict[str, Any]] = []
    valid: list[MeterValuesBatch] = []
    for raw in body["events"]:
        key = raw.get("idempotency_key") if isinstance(raw, dict) else None
        try:
            event = MeterValuesEvent.model_validate(raw)
            rows_of(event.payload)  # a value that is not a finite number rejects its event only
        except (ValidationError, InvalidSample) as exc:
            log.warning("failed to store meter value", error=str(exc), idempotency_key=key)
            results.append({"idempotency_key": key, "status": "rejected", "error": str(exc)[:500]})
            continue
        valid.append(event.payload)
        results.append({"idempotency_key": key, "status": "stored"})
    try:
        await request.app[REPOSITORY].store(valid)
    except Exception:
        log.exception("failed to store meter value", events=len(valid))
        raise
    return json_response({"results": results})


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
