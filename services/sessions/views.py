"""The sessions service's HTTP views; thin: parse, call the repository, answer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Literal

import structlog
from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from chargeplane.common.batching import together_or_alone
from chargeplane.common.event_batches import MergedEvent, retryable
from chargeplane.common.outbox import OUTBOX
from chargeplane.common.outbox_events import (
    SESSION_START,
    SESSION_STOP,
    STATION_BOOTED,
    SessionStart,
    SessionStop,
    StationBooted,
    parse,
)
from chargeplane.common.tracing import current_traceparent
from chargeplane.common.web import ApiError, error_response, json_response, read_json

from .repository import REPOSITORY, SessionWork, reboot_work, start_work, stop_work

log = structlog.get_logger(__name__)


# an event of a relay round: its position, its work, how its answer is told
_Item = tuple[int, SessionWork, Callable[[Any], web.Response]]
# Transactions a relay round's events are shared among, by station: one transaction for the
# whole round would do one station's events after another's, each waiting its round trips.
ROUND_TRANSACTIONS = 4


def _work(path: str, body: Any, traceparent: str | None) -> tuple[SessionWork, Callable[[Any], web.Response]]:
    """An event's work and how its answer is told, from its path and body."""
    if path == SESSION_START:
        start = parse(SessionStart, body)
        return start_work(start, traceparent), lambda session: json_response(session, status=201)
    if path == SESSION_STOP:
        stop = parse(SessionStop, body)
        return stop_work(stop, traceparent), lambda answer: json_response({"outcome": answer[0], "session": answer[1]})
    booted = parse(StationBooted, body)
    return (reboot_work(booted.station_id, booted.open_transactions, traceparent),
            lambda closed: json_response({"closed": closed}))


_FAILURE_EVENTS = {SESSION_START: "start session failed", SESSION_STOP: "stop session failed"}


def _failed(path: str, body: Any, error: BaseException) -> None:
    """The log line operators grep for when a session event could not be done."""
    event = _FAILURE_EVENTS.get(path, "station boot handling failed")
    log.error(event, transaction_id=body.get("transaction_id"), station_id=body.get("station_id"), exc_info=error)


async def _one_event(request: web.Request, path: str) -> web.Response:
    body = await read_json(request)
    work, answer = _work(path, body, current_traceparent())
    try:
        [result] = await request.app[REPOSITORY].run([work])
    except Exception as exc:
        _failed(path, body, exc)
        raise
    request.app[OUTBOX].wake()
    return answer(result)


async def session_start(request: web.Request) -> web.Response:
    return await _one_event(request, SESSION_START)


async def session_stop(request: web.Request) -> web.Response:
    return await _one_event(request, SESSION_STOP)


async def station_booted(request: web.Request) -> web.Response:
    return await _one_event(request, STATION_BOOTED)


async def session_events(app: web.Application, events: Sequence[MergedEvent]) -> list[web.Response | None]:
    """A relay round's session events (`event_batches` merged view): each station's events in
    order, a few transactions for the round instead of one per event. A transaction that
    fails is done again event by event, so that one bad event fails alone; a station's events
    after one that failed for now wait for the relay's retry, as they would have."""
    responses: list[web.Response | None] = [None] * len(events)
    groups: list[list[_Item]] = [[] for _ in range(ROUND_TRANSACTIONS)]
    for position, event in enumerate(events):
        try:
            work, answer = _work(event.path, event.payload, event.traceparent)
        except ValidationError as exc:
            responses[position] = error_response(exc, event.path)
            continue
        groups[hash(event.payload["station_id"]) % ROUND_TRANSACTIONS].append((position, work, answer))
    repository = app[REPOSITORY]

    async def run(items: Sequence[_Item]) -> list[Any]:
        return await repository.run([work for _, work, _ in items])

    def settle(item: _Item, outcome: Any) -> None:
        position, _, answer = item
        if isinstance(outcome, Exception):
            _failed(events[position].path, events[position].payload, outcome)
            responses[position] = error_response(outcome, events[position].path)
        else:
            responses[position] = answer(outcome)

    def failed_for_now(item: _Item, error: Exception) -> bool:
        response = responses[item[0]]
        return response is not None and retryable(response.status)

    async def run_group(group: list[_Item]) -> None:
        await together_or_alone(group, run, settle, chain=lambda item: events[item[0]].payload["station_id"],
                                stops_chain=failed_for_now)

    await asyncio.gather(*(run_group(group) for group in groups if group))
    app[OUTBOX].wake()
    return responses


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
