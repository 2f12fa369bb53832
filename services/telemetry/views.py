"""The telemetry service's HTTP views."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from chargeplane.common.event_batches import MergedEvent
from chargeplane.common.outbox_events import METER_VALUES_BATCH, MeterValues, parse
from chargeplane.common.web import ApiError, error_response, json_response, read_json

from .repository import REPOSITORY, InvalidSample, rows_of

log = structlog.get_logger(__name__)
ENERGY_SERIES_PATH = "/internal/energy-samples"
ENTRIES = TypeAdapter(list[MeterValues])  # one validation call for a whole batch


async def store_meter_values(request: web.Request) -> web.Response:
    body = await read_json(request)
    try:
        batch = parse(MeterValues, body)
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
    [response] = await _store_events(request.app, [await read_json(request)], [_entries_of_batch])
    return response


async def store_merged(app: web.Application, events: Sequence[MergedEvent]) -> list[web.Response]:
    """The MeterValues events of a relay round (`event_batches` merged view), of both paths:
    one INSERT for all."""
    return await _store_events(app, [event.payload for event in events],
                               [_entries_of_batch if event.path == METER_VALUES_BATCH else _entries_of_one
                                for event in events])


async def _store_events(app: web.Application, payloads: Sequence[Any],
                        entries_of: Sequence[Callable[[dict[str, Any]], Any]]) -> list[web.Response]:
    """Validate each event's entries, store the rows of all the valid ones in one statement,
    and answer each event: 201, or 422 naming its invalid entries."""
    rows: list[dict[str, Any]] = []
    refusals: list[ApiError | None] = []
    for payload, entries_of_payload in zip(payloads, entries_of, strict=True):
        entries = entries_of_payload(payload) if isinstance(payload, dict) else None
        if not isinstance(entries, list):
            refusals.append(ApiError(422, "invalid_request", 'body must be {"meter_values": [...]}'))
        elif invalid := _valid_rows(entries, rows):
            log.warning("failed to store meter value", invalid=invalid[:10])
            refusals.append(ApiError(422, "invalid_sampled_value",
                                     f"{len(invalid)} of {len(entries)} entries are invalid", invalid[:50]))
        else:
            refusals.append(None)
    try:
        stored = await app[REPOSITORY].store(rows)
    except Exception:
        log.exception("failed to store meter value", rows=len(rows))
        raise
    # stored: by the one statement of all these events
    return [error_response(refusal, "") if refusal else json_response({"stored": stored}, status=201)
            for refusal in refusals]


def _entries_of_batch(payload: dict[str, Any]) -> Any:
    return payload.get("meter_values")


def _entries_of_one(payload: dict[str, Any]) -> Any:
    return [payload]


def _valid_rows(entries: list[Any], rows: list[dict[str, Any]]) -> list[dict[str, object]]:
    """Add the rows of the valid entries to `rows`; return the invalid entries."""
    invalid: list[dict[str, object]] = []
    try:
        valid = list(enumerate(ENTRIES.validate_python(entries)))
    except ValidationError:  # find the bad ones; the rest go in
        valid = []
        for position, entry in enumerate(entries):
            try:
                valid.append((position, parse(MeterValues, entry)))
            except ValidationError as exc:
                invalid.append({"index": position, "error": str(exc)[:300]})
    for position, batch in valid:
        try:
            rows.extend(rows_of(batch))
        except InvalidSample as exc:
            invalid.append({"index": position, "error": str(exc)})
    return invalid


async def energy_samples(request: web.Request) -> web.Response:
    try:
        session_id = int(request.match_info["session_id"])
    except ValueError as exc:
        raise ApiError(400, "invalid_session_id", "session id must be an integer") from exc
    series = await request.app[REPOSITORY].energy_series([session_id])
    return json_response({"session_id": session_id, "samples": series.get(session_id, [])})


class EnergySeriesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(max_length=10_000)


async def energy_series(request: web.Request) -> web.Response:
    """Many sessions' energy readings at once (billing prices a relay round's sessions together):
    `{"session_ids": [...]}` -> `{"sessions": {"<id>": [{"at", "energy_wh"}, ...]}}`."""
    query = EnergySeriesQuery.model_validate(await read_json(request))
    series = await request.app[REPOSITORY].energy_series(query.session_ids)
    return json_response({"sessions": {str(session_id): samples for session_id, samples in series.items()}})


async def refresh_rollups(request: web.Request) -> web.Response:
    await request.app[REPOSITORY].refresh_rollups()
    return json_response({"refreshed": True})
