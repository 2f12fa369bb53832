"""Outbox events received many to a request: each handled by the view its path names, as
if it had come alone.

A relay that sends one request per event spends more of both services' cores on HTTP than
on the events. Batched, an event keeps what a request of its own had: its answer (status
and body, which the relay acts on event by event), its trace (a server span in it when
sampled, else its context for what the view hands on), and its order among its station's
events: one station's events are handled one after the other, up to the first that fails
for now (a retryable status: the rest wait for the relay's retry; an event refused for good
does not hold up the ones behind it); different stations' side by side.

A service may register a *merged* view for some of its paths: it gets all of a batch's
events at those paths in one call, in the batch's order, and answers each, so that a relay
round costs one transaction or one statement instead of one per event. Paths sharing one
merged view keep their events' relative order (it is the view's to honour); the other
paths' events must not depend on their order relative to these.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from .tracing import event_trace, traceparent_sampled
from .web import ApiError, error_response, json_response, read_json

BATCH_PATH = "/internal/outbox/batch"
CONCURRENT_STATIONS = 16  # events in progress at once, each of another station


@dataclass(frozen=True, slots=True)
class BatchedEvent:
    """What an event view reads of its request, for an event that came in a batch."""

    app: web.Application
    path: str
    body: bytes

    async def read(self) -> bytes:
        return self.body


# A view of one event: takes its web.Request, or the BatchedEvent standing in for one.
EventView = Callable[[Any], Awaitable[web.Response]]


@dataclass(frozen=True, slots=True)
class MergedEvent:
    path: str
    payload: Any
    traceparent: str | None


# A merged view: a batch's events at its paths, in order -> one response each, or None for an
# event not handled (behind one of its station that failed for now: the relay sends it again).
MergedView = Callable[[web.Application, Sequence[MergedEvent]], Awaitable[Sequence[web.Response | None]]]


@dataclass(frozen=True, slots=True)
class EventRoutes:
    views: dict[str, EventView]
    merged: dict[str, MergedView]


EVENT_ROUTES = web.AppKey("event_routes", EventRoutes)


def add_event_routes(app: web.Application, views: Mapping[str, EventView],
                     merged: Mapping[str, MergedView] | None = None) -> None:
    """Each view at its own path (POST), and all of them through BATCH_PATH; there the events
    of the paths in `merged` go to their merged view, all at once."""
    for path, view in views.items():
        app.router.add_post(path, view)
    app[EVENT_ROUTES] = EventRoutes(dict(views), dict(merged or {}))
    app.router.add_post(BATCH_PATH, _receive_batch)


async def _receive_batch(request: web.Request) -> web.Response:
    body = await read_json(request)
    events = body.get("events") if isinstance(body, dict) else None
    if not isinstance(events, list) or not all(_is_event(event) for event in events):
        raise ApiError(422, "invalid_request", 'body must be {"events": [{"path", "payload", "traceparent"}, ...]}')
    results: list[dict[str, Any]] = [{"status": None}] * len(events)  # None: not handled
    merged_views = request.app[EVENT_ROUTES].merged
    chains: dict[object, list[int]] = {}
    merged: dict[MergedView, list[int]] = {}
    for position, event in enumerate(events):
        payload = event["payload"]
        if (merged_view := merged_views.get(event["path"])) is not None:
            merged.setdefault(merged_view, []).append(position)
        else:
            chains.setdefault(payload.get("station_id") if isinstance(payload, dict) else None, []).append(position)
    slots = asyncio.Semaphore(CONCURRENT_STATIONS)

    async def handle_chain(positions: list[int]) -> None:
        async with slots:
            for position in positions:
                status, text = await _handle(request, events[position])
                results[position] = {"status": status, "body": text}
                if retryable(status):
                    return

    async def handle_merged(view: MergedView, positions: list[int]) -> None:
        answers = await _handle_merged(request, view, [events[position] for position in positions])
        for position, answer in zip(positions, answers, strict=True):
            if answer is not None:
                results[position] = {"status": answer[0], "body": answer[1]}

    await asyncio.gather(*(handle_chain(positions) for positions in chains.values()),
                         *(handle_merged(view, positions) for view, positions in merged.items()))
    return json_response({"results": results})


def retryable(status: int) -> bool:
    """An answer that may change if the event is sent again later."""
    return status in (408, 425, 429) or status >= 500


def _is_event(event: object) -> bool:
    return (isinstance(event, dict) and isinstance(event.get("path"), str) and "payload" in event
            and isinstance(event.get("traceparent") or "", str))


async def _handle(batch: web.Request, event: dict[str, Any]) -> tuple[int, str]:
    path = event["path"]
    view = batch.app[EVENT_ROUTES].views.get(path)
    if view is None:
        return 404, f"no event view at {path}"
    with event_trace(f"POST {path}", event.get("traceparent"), _span_attributes(batch, event)):
        try:
            response = await view(BatchedEvent(batch.app, path, orjson.dumps(event["payload"])))
        except Exception as exc:
            response = error_response(exc, path)
    return response.status, response.text or ""


async def _handle_merged(batch: web.Request, view: MergedView,
                         events: list[dict[str, Any]]) -> list[tuple[int, str] | None]:
    """One call for all these events; the sampled ones' spans are open around it."""
    with contextlib.ExitStack() as spans:
        for event in events:
            if (traceparent := event.get("traceparent")) and traceparent_sampled(traceparent):
                attributes = {**_span_attributes(batch, event), "outbox.merged_events": len(events)}
                spans.enter_context(event_trace(f"POST {event['path']}", traceparent, attributes))
        try:
            responses = await view(batch.app, [MergedEvent(event["path"], event["payload"], event.get("traceparent"))
                                               for event in events])
        except Exception as exc:
            responses = [error_response(exc, BATCH_PATH)] * len(events)
    return [None if response is None else (response.status, response.text or "") for response in responses]


def _span_attributes(batch: web.Request, event: dict[str, Any]) -> dict[str, str | int]:
    """What the event's request of its own would have said of it."""
    return {"http.request.method": "POST", "http.route": event["path"], "server.port": batch.url.port or 0,
            "outbox.idempotency_key": str(event.get("idempotency_key"))}
