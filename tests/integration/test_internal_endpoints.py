"""The internal endpoints over real HTTP: validation, idempotency, cache rebuild, outbox."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import aiohttp
import asyncpg
import orjson

from chargeplane.common.outbox import OutboxRelay
from support.station import RawStation, energy_sample, now_z

BATCH = {"station_id": "S1", "connector_id": 1, "transaction_id": 7, "meter_value": [energy_sample(1500)]}


async def test_meter_values_are_stored_once_however_often_delivered(platform, http: aiohttp.ClientSession) -> None:
    url = platform.url("telemetry") + "/internal/ocpp/meter-values"
    for expected in (3, 0):
        async with http.post(url, json=BATCH) as response:
            assert response.status == 201
            assert (await response.json())["stored"] == expected
    assert await platform.db.fetchval("SELECT count(*) FROM telemetry_data") == 3


async def test_invalid_meter_values_get_a_clear_4xx_and_store_nothing(platform, http) -> None:
    url = platform.url("telemetry") + "/internal/ocpp/meter-values"
    bad = {**BATCH, "meter_value": [{"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": "lots"}]}]}
    async with http.post(url, json=bad) as response:
        assert response.status == 422
        body = await response.json()
        assert "not a number" in body["error"]["message"]
    async with http.post(url, json={"station_id": "S1"}) as response:
        assert response.status == 422
        assert (await response.json())["error"]["code"] == "invalid_request"
    async with http.post(url, data=b"{not json") as response:
        assert response.status == 400
    assert await platform.db.fetchval("SELECT count(*) FROM telemetry_data") == 0


async def test_energy_readings_of_many_sessions_come_in_one_request(platform, http) -> None:
    telemetry = platform.url("telemetry")
    for session_id, wh in ((7, 1500), (8, 2500)):
        async with http.post(telemetry + "/internal/ocpp/meter-values", json={
                **BATCH, "connector_id": session_id, "transaction_id": session_id,
                "meter_value": [energy_sample(wh, "2026-03-02T10:30:00Z")]}) as r:
            assert r.status == 201
    async with http.post(telemetry + "/internal/energy-samples", json={"session_ids": [7, 8, 9]}) as response:
        assert response.status == 200
        sessions = (await response.json())["sessions"]
    assert sessions == {"7": [{"at": "2026-03-02T10:30:00+00:00", "energy_wh": "1500"}],
                        "8": [{"at": "2026-03-02T10:30:00+00:00", "energy_wh": "2500"}]}  # 9 has none
    async with http.post(telemetry + "/internal/energy-samples", json={"session_ids": ["x"]}) as response:
        assert response.status == 422


async def test_a_relay_rounds_meter_values_are_stored_together_and_answered_each(platform, http) -> None:
    """Through the batch endpoint, as the gateway's relay sends them: the round's MeterValues
    events share one INSERT; an event with an invalid entry is answered 422 on its own."""
    def event(key: str, path: str, payload: dict) -> dict:
        return {"path": path, "idempotency_key": key, "traceparent": None, "payload": payload}

    bad = {**BATCH, "station_id": "S3", "meter_value": [{"timestamp": now_z(), "sampledValue": [{"value": "lots"}]}]}
    events = [
        event("a", "/internal/ocpp/meter-values/batch", {"meter_values": [BATCH]}),
        event("b", "/internal/ocpp/meter-values/batch", {"meter_values": [{**BATCH, "station_id": "S2"}, bad]}),
        event("c", "/internal/ocpp/meter-values", {**BATCH, "station_id": "S4"}),
        event("d", "/internal/ocpp/meter-values/batch", {"meter_values": "none"}),
    ]
    async with http.post(platform.url("telemetry") + "/internal/outbox/batch", json={"events": events}) as response:
        results = (await response.json())["results"]
    assert [r["status"] for r in results] == [201, 422, 201, 422]
    assert "1 of 2 entries are invalid" in results[1]["body"]
    stored = await platform.db.fetch("SELECT station_id, count(*) AS n FROM telemetry_data GROUP BY 1 ORDER BY 1")
    assert [(r["station_id"], r["n"]) for r in stored] == [("S1", 3), ("S2", 3), ("S4", 3)]


async def _start_and_stop(http: aiohttp.ClientSession, sessions_url: str) -> dict:
    start = {"transaction_id": 41, "station_id": "S1", "connector_id": 1, "id_tag": "T",
             "meter_start_wh": 0, "started_at": "2026-03-02T10:00:00+00:00"}
    async with http.post(sessions_url + "/internal/ocpp/session-start", json=start) as response:
        assert response.status == 201
    stop = {"transaction_id": 41, "station_id": "S1", "meter_stop_wh": 7000,
            "stopped_at": "2026-03-02T11:00:00+00:00"}
    async with http.post(sessions_url + "/internal/ocpp/session-stop", json=stop) as response:
        assert response.status == 200
        return await response.json()


async def test_a_repeated_stop_is_one_stop_and_one_bill(platform, http: aiohttp.ClientSession) -> None:
    assert (await _start_and_stop(http, platform.url("sessions")))["outcome"] == "stopped"
    stop = {"transaction_id": 41, "station_id": "S1", "meter_stop_wh": 7000, "stopped_at": "2026-03-02T11:00:00Z"}
    async with http.post(platform.url("sessions") + "/internal/ocpp/session-stop", json=stop) as response:
        assert (await response.json())["outcome"] == "already-stopped"
    await platform.outbox_drained()
    assert await platform.db.fetchval("SELECT count(*) FROM billing_transactions") == 1
    # the same billing event delivered again: the bill stands
    event = {"session_id": 41, "station_id": "S1", "connector_id": 1, "meter_start_wh": 0, "meter_stop_wh": 7000,
             "started_at": "2026-03-02T10:00:00Z", "stopped_at": "2026-03-02T11:00:00Z"}
    async with http.post(platform.url("billing") + "/internal/ocpp/session-stopped", json=event) as response:
        assert response.status == 200
    assert await platform.db.fetchval("SELECT count(*) FROM billing_transactions") == 1


async def test_a_stale_bill_event_delivered_late_does_not_undo_the_stations_stop(
    platform, http: aiohttp.ClientSession
) -> None:
    """The bill for a session the platform closed (the station rebooted) is replaced by the
    bill for the station's own StopTransaction; a copy of the first event that a faulty network
    held back must not bring the old bill back (found by make chaos)."""
    billing = platform.url("billing")
    by_time = {"currency": "EUR", "tax_rate": "0", "elements": [{"price_components": [{"type": "TIME", "price": "1"}]}]}
    async with http.put(f"{billing}/internal/tariffs/by-time", json=by_time) as response:
        assert response.status == 200
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ('S1')")
    async with http.put(f"{billing}/internal/stations/S1/tariff", json={"tariff_id": "by-time"}) as response:
        assert response.status == 200
    await platform.db.execute("INSERT INTO charging_sessions (id, station_id, connector_id, status, meter_start_wh,"
                              " started_at) VALUES (41, 'S1', 1, 'completed', 0, '2026-03-02T10:00:00Z')")
    closed_at_reboot = {"session_id": 41, "station_id": "S1", "connector_id": 1, "meter_start_wh": 0,
                        "meter_stop_wh": 7000, "started_at": "2026-03-02T10:00:00Z",
                        "stopped_at": "2026-03-02T10:30:00Z", "closed_by": "reboot"}
    stopped_by_station = {**closed_at_reboot, "stopped_at": "2026-03-02T11:00:00Z", "closed_by": "station"}
    bills = []
    for event in (closed_at_reboot, stopped_by_station, closed_at_reboot):
        async with http.post(f"{billing}/internal/ocpp/session-stopped", json=event) as response:
            assert response.status in (200, 201)
        bills.append(await platform.db.fetchval("SELECT amount_incl_tax FROM billing_transactions"))
    assert bills[:2] == [Decimal("0.50"), Decimal("1.00")], "the station's stop re-priced the bill"
    assert bills[2] == bills[1], "the late copy of the reboot's event changed nothing"


async def test_billing_waits_for_telemetry_rather_than_guess(platform, http: aiohttp.ClientSession) -> None:
    await platform.stop("telemetry")
    await _start_and_stop(http, platform.url("sessions"))
    event = {"session_id": 41, "station_id": "S1", "connector_id": 1, "meter_start_wh": 0, "meter_stop_wh": 7000,
             "started_at": "2026-03-02T10:00:00Z", "stopped_at": "2026-03-02T11:00:00Z"}
    async with http.post(platform.url("billing") + "/internal/ocpp/session-stopped", json=event) as response:
        assert response.status == 503
    await platform.start("telemetry")
    await platform.outbox_drained()
    assert await platform.db.fetchval("SELECT amount_incl_tax FROM billing_transactions") is not None


async def test_a_relay_rounds_session_events_keep_each_stations_order_and_a_bad_one_fails_alone(
    platform, redis, http
) -> None:
    """Through the batch endpoint, as the relay sends them: a round's session events share a
    few transactions, each station's in order (its stop after its start, the next start after
    the stop); an event the database refuses is answered alone, its round done event by event."""
    def event(path: str, payload: dict) -> dict:
        return {"path": f"/internal/ocpp/{path}", "idempotency_key": f"{path}:{payload.get('transaction_id')}",
                "traceparent": None, "payload": payload}

    def start(tx: int, station: str) -> dict:
        return event("session-start", {"transaction_id": tx, "station_id": station, "connector_id": 1, "id_tag": "T",
                                       "meter_start_wh": 0, "started_at": f"2026-03-02T10:0{tx % 10}:00Z"})

    def stop(tx: int, station: str) -> dict:
        return event("session-stop", {"transaction_id": tx, "station_id": station, "meter_stop_wh": 5000,
                                      "stopped_at": f"2026-03-02T11:0{tx % 10}:00Z"})

    stations = [f"S{n}" for n in range(8)]
    events = [e for n, station in enumerate(stations) for e in (start(10 * n + 1, station), stop(10 * n + 1, station),
                                                                start(10 * n + 2, station))]
    events.append(start(99, "S\x00"))  # PostgreSQL takes no NUL in a text: refused, alone
    events.append(event("session-start", {"station_id": "S9"}))  # invalid
    async with http.post(platform.url("sessions") + "/internal/outbox/batch", json={"events": events}) as response:
        results = (await response.json())["results"]
    assert [r["status"] for r in results] == [201, 200, 201] * len(stations) + [400, 422]
    rows = await platform.db.fetch("SELECT id, status, closed_by FROM charging_sessions ORDER BY id")
    assert [(r["id"] % 10, r["status"], r["closed_by"]) for r in rows] == \
        [(1, "completed", "station"), (2, "active", None)] * len(stations)
    await platform.outbox_drained()
    assert await platform.db.fetchval("SELECT count(*) FROM billing_transactions") == len(stations)
    for n, station in enumerate(stations):
        cached = await redis.get(f"sessions:active:{station}:1")
        assert cached is not None and orjson.loads(cached)["id"] == 10 * n + 2


async def test_a_relay_rounds_bills_are_priced_together_and_a_bad_one_fails_alone(platform, http) -> None:
    """Through the batch endpoint, as the relay sends them: one tariff lookup, one request to
    telemetry and one INSERT for the round's bills, each answered on its own: a bill still
    waiting for a reading (503), a bill the database refuses (500, the others saved), a
    session's second event in the round (left for the next round), an invalid event (422)."""
    for session_id in (51, 52, 53):
        await platform.db.execute(
            "INSERT INTO charging_sessions (id, station_id, connector_id, status, meter_start_wh, started_at)"
            " VALUES ($1, $2, 1, 'completed', 0, '2026-03-02T10:00:00Z')", session_id, f"S{session_id}")
    reading_at = "2026-03-02T10:30:00Z"
    async with http.post(platform.url("telemetry") + "/internal/ocpp/meter-values", json={
            "station_id": "S53", "connector_id": 1, "transaction_id": 53,
            "meter_value": [energy_sample(2500, reading_at)]}) as response:
        assert response.status == 201

    def stopped(session_id: int, **extra: object) -> dict:
        return {"path": "/internal/ocpp/session-stopped", "idempotency_key": f"session-stopped:{session_id}",
                "traceparent": None, "payload": {
                    "session_id": session_id, "station_id": f"S{session_id}", "connector_id": 1, "meter_start_wh": 0,
                    "meter_stop_wh": 5000, "started_at": "2026-03-02T10:00:00Z",
                    "stopped_at": "2026-03-02T11:00:00Z", "closed_by": "station", **extra}}

    events = [stopped(51), stopped(52, awaited_readings=["2026-03-02T10:45:00Z"]),
              stopped(53, awaited_readings=[reading_at]), stopped(60), stopped(51), {**stopped(54), "payload": {}}]
    async with http.post(platform.url("billing") + "/internal/outbox/batch", json={"events": events}) as response:
        results = (await response.json())["results"]
    assert [r["status"] for r in results] == [201, 503, 201, 500, None, 422]
    assert "meter_values_pending" in results[1]["body"]
    bills = await platform.db.fetch("SELECT session_id, station_id, energy_wh FROM billing_transactions"
                                    " ORDER BY session_id")
    assert [(r["session_id"], r["station_id"], r["energy_wh"]) for r in bills] == [(51, "S51", 5000),
                                                                                  (53, "S53", 5000)]
    async with http.post(platform.url("billing") + "/internal/outbox/batch", json={"events": events[:1]}) as response:
        assert [r["status"] for r in (await response.json())["results"]] == [200]  # the bill stands


async def test_active_sessions_come_back_after_redis_loses_everything(platform, redis, http) -> None:
    start = {"transaction_id": 5, "station_id": "S2", "connector_id": 2, "id_tag": "T", "meter_start_wh": 10,
             "started_at": "2026-03-02T10:00:00Z"}
    async with http.post(platform.url("sessions") + "/internal/ocpp/session-start", json=start) as response:
        assert response.status == 201
    assert await redis.get("sessions:active:S2:2") is not None
    await redis.flushdb()
    async with http.get(platform.url("sessions") + "/internal/sessions/active?station_id=S2") as response:
        items = (await response.json())["items"]
    assert [(s["id"], s["connector_id"]) for s in items] == [(5, 2)]
    assert await redis.get("sessions:active:S2:2") is not None


async def test_an_event_the_receiver_rejects_is_kept_and_does_not_block_the_rest(platform) -> None:
    from chargeplane.common.outbox import OutboxEvent, insert_outbox_rows, outbox_row

    async with platform.db.acquire() as conn:
        await insert_outbox_rows(conn, [outbox_row("ocpp", event, None) for event in (
            OutboxEvent("telemetry", "/internal/ocpp/meter-values", "bad-1", {"station_id": "S1"}),
            OutboxEvent("telemetry", "/internal/ocpp/meter-values", "good-1", BATCH),
        )])
    await platform.outbox_drained()
    dead = await platform.db.fetch("SELECT idempotency_key, attempts FROM outbox WHERE dead_at IS NOT NULL")
    assert [(r["idempotency_key"], r["attempts"]) for r in dead] == [("bad-1", 1)]
    assert await platform.db.fetchval("SELECT count(*) FROM telemetry_data") == 3


async def test_readiness_reports_its_dependencies(platform, http: aiohttp.ClientSession) -> None:
    async with http.get(platform.url("sessions") + "/readyz") as response:
        assert response.status == 200
        assert (await response.json())["checks"] == {"postgres": "ok", "redis": "ok"}
    async with http.get(platform.url("ocpp") + "/healthz") as response:
        assert response.status == 200


async def test_the_outbox_relay_outlives_an_unexpected_error(platform, http, monkeypatch) -> None:
    """A relay whose delivery loop died would leave the outbox undrained, silently (the chaos
    suite saw one stuck after a PostgreSQL crash)."""
    deliver = OutboxRelay.deliver_pending
    failures = iter([asyncpg.exceptions.InternalClientError("cannot switch to state 15")])

    async def flaky(self: OutboxRelay, destination: str) -> int:
        if destination == "sessions" and (error := next(failures, None)) is not None:
            raise error  # the gateway's relay to sessions meets it at its next round
        return await deliver(self, destination)

    monkeypatch.setattr(OutboxRelay, "deliver_pending", flaky)
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ('RELAY-1')")
    async with http.ws_connect(f"{platform.ocpp_url}/RELAY-1", protocols=["ocpp1.6"]) as ws:
        reply = await RawStation(ws).call("StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0,
                                                               "timestamp": now_z()})
    await platform.outbox_drained()
    assert next(failures, None) is None, "the relay met the error"
    assert await platform.db.fetchval("SELECT id FROM charging_sessions") == reply["transactionId"]


async def test_a_round_reads_no_more_payload_than_its_budget_and_says_more_may_wait(platform, http,
                                                                                    monkeypatch) -> None:
    """A backlog of large events (MeterValues of hundreds of stations each) is read a few at a
    time, not 500 at once; a round cut short by its budget says so, and the relay goes on."""
    from chargeplane.common import outbox
    from chargeplane.common.outbox import OutboxEvent, insert_outbox_rows, outbox_row
    from chargeplane.common.settings import ServiceSettings

    monkeypatch.setattr(outbox, "ROUND_BYTES", 1)  # one event a round
    async with platform.db.acquire() as conn:  # a source of its own: no running relay takes these
        await insert_outbox_rows(conn, [outbox_row("budget-test", OutboxEvent(
            "telemetry", "/internal/ocpp/meter-values", f"round-{n}", {**BATCH, "station_id": f"R{n}"}), None)
            for n in range(3)])
    relay = OutboxRelay(platform.db, http, ServiceSettings(service_name="budget-test"),
                        {"telemetry": platform.url("telemetry")})
    assert [await relay.deliver_pending("telemetry") for _ in range(4)] == [True, True, True, False]
    assert await platform.db.fetchval("SELECT count(DISTINCT station_id) FROM telemetry_data") == 3


async def test_a_relay_woken_as_it_is_cancelled_stops(platform, http) -> None:
    """New events committed just as the service shuts down must not keep its relay running:
    on Python 3.11 `asyncio.wait_for` returns the wait's result instead of raising when both
    happen in one turn of the loop, and the relay would wait again, forever."""
    from chargeplane.common.settings import ServiceSettings

    relay = OutboxRelay(platform.db, http, ServiceSettings(service_name="shutdown-test"),
                        {"telemetry": platform.url("telemetry")})
    running = asyncio.create_task(relay.run())
    await asyncio.sleep(0.5)  # nothing to deliver: the relay is waiting to be woken
    relay.wake()
    running.cancel()
    try:
        done, _ = await asyncio.wait([running], timeout=5)
        assert running in done, "the relay did not stop"
        assert running.cancelled()
    finally:
        running.cancel()  # a relay that missed the first cancellation takes a second one
        await asyncio.wait([running], timeout=5)
