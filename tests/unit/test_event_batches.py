"""Outbox events received many to a request (common/event_batches.py): each answered as if
it had come alone, a station's events in order, up to the first that fails for now."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from chargeplane.common.event_batches import BATCH_PATH, add_event_routes
from chargeplane.common.web import ApiError, error_middleware, error_response, json_response, read_json


def _app(handled: list[tuple[str, Any]], merged: Any = None) -> web.Application:
    async def record(request: Any) -> web.Response:
        body = await read_json(request)
        await asyncio.sleep(0.01 if body["station_id"] == "slow" else 0)
        if body.get("fail") == "later":
            raise ApiError(503, "busy", "try again later")
        if body.get("fail") == "never":
            raise ApiError(422, "invalid", "never valid")
        handled.append((body["station_id"], body["n"]))
        return json_response({"n": body["n"]}, status=201)

    app = web.Application(middlewares=[error_middleware])
    add_event_routes(app, {"/internal/record": record}, merged)
    return app


def _event(station_id: str, n: int, **extra: str) -> dict[str, Any]:
    return {"path": "/internal/record", "idempotency_key": f"{station_id}-{n}", "traceparent": None,
            "payload": {"station_id": station_id, "n": n, **extra}}


async def test_each_event_gets_its_own_answer_and_a_stations_events_keep_their_order(aiohttp_client: Any) -> None:
    handled: list[tuple[str, Any]] = []
    client: TestClient = await aiohttp_client(_app(handled))
    events = [_event("slow", 1), _event("fast", 1), _event("slow", 2), _event("fast", 2, fail="never"),
              _event("fast", 3), _event("late", 1, fail="later"), _event("late", 2)]
    response = await client.post(BATCH_PATH, json={"events": events})
    assert response.status == 200
    results = (await response.json())["results"]
    assert [r["status"] for r in results] == [201, 201, 201, 422, 201, 503, None]
    assert "never valid" in results[3]["body"]
    # a station's events one after the other; a refused one does not hold up the next,
    # one that failed for now does (it is retried first)
    assert [n for station, n in handled if station == "slow"] == [1, 2]
    assert [n for station, n in handled if station == "fast"] == [1, 3]
    assert ("late", 2) not in handled


async def test_the_event_views_answer_alone_too_and_a_malformed_batch_is_refused(aiohttp_client: Any) -> None:
    handled: list[tuple[str, Any]] = []
    client: TestClient = await aiohttp_client(_app(handled))
    response = await client.post("/internal/record", json={"station_id": "one", "n": 7})
    assert response.status == 201 and handled == [("one", 7)]
    for body in ({"events": [{"payload": {}}]}, {"events": "no"}, [1]):
        response = await client.post(BATCH_PATH, json=body)
        assert response.status == 422
    response = await client.post(BATCH_PATH, json={"events": [{"path": "/nowhere", "payload": {}}]})
    assert (await response.json())["results"][0]["status"] == 404


async def test_a_merged_path_gets_all_its_events_in_one_call_and_answers_each(aiohttp_client: Any) -> None:
    handled: list[tuple[str, Any]] = []
    calls: list[list[Any]] = []

    async def merged(app: web.Application, events: Any) -> list[web.Response]:
        calls.append([(event.path, event.payload) for event in events])
        return [json_response({"n": event.payload["n"]}, status=201) if event.payload["n"] > 0 else
                None if event.payload["n"] == 0 else  # not handled: the relay sends it again
                error_response(ApiError(422, "invalid", "n must be positive"), event.path)
                for event in events]

    async def broken(app: web.Application, events: Any) -> list[web.Response]:
        raise ApiError(503, "down", "the database is away")

    client: TestClient = await aiohttp_client(_app(handled, {"/internal/one": merged, "/internal/two": merged,
                                                             "/internal/broken": broken}))
    events = [{"path": path, "payload": {"station_id": s, "n": n}, "traceparent": None}
              for path, s, n in (("/internal/one", "a", 1), ("/internal/two", "b", -1), ("/internal/one", "a", 2))]
    events += [{"path": "/internal/broken", "payload": {"n": 9}}, _event("one", 1),
               {"path": "/internal/two", "payload": {"station_id": "b", "n": 0}}]
    response = await client.post(BATCH_PATH, json={"events": events})
    results = (await response.json())["results"]
    assert [r["status"] for r in results] == [201, 422, 201, 503, 201, None]
    assert "n must be positive" in results[1]["body"] and "the database is away" in results[3]["body"]
    # one call for the paths that share a view, their events in the batch's order
    assert calls == [[("/internal/one", {"station_id": "a", "n": 1}), ("/internal/two", {"station_id": "b", "n": -1}),
                      ("/internal/one", {"station_id": "a", "n": 2}), ("/internal/two", {"station_id": "b", "n": 0})]]
    assert handled == [("one", 1)]
