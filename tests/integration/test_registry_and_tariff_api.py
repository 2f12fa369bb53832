"""The internal APIs the operator drives: station registry (gateway) and tariffs (billing)."""

from __future__ import annotations

import aiohttp
import pytest

from support.station import RawStation

TOU_TARIFF = {
    "currency": "EUR", "tax_rate": "0.20", "time_zone": "Europe/Berlin",
    "elements": [
        {"price_components": [{"type": "ENERGY", "price": "0.40", "step_size": 1}],
         "restrictions": {"start_time": "08:00", "end_time": "20:00"}},
        {"price_components": [{"type": "ENERGY", "price": "0.25", "step_size": 1}]},
    ],
}


async def test_a_registered_station_connects_and_shows_its_live_state(platform, http: aiohttp.ClientSession) -> None:
    url = platform.url("ocpp") + "/internal/stations/OP-1"
    async with http.put(url, json={"heartbeat_interval": 60}) as response:
        assert response.status == 201
    async with http.put(url, json={"heartbeat_interval": 60}) as response:
        assert response.status == 200  # idempotent
    async with http.ws_connect(f"{platform.ocpp_url}/OP-1", protocols=["ocpp1.6"]) as ws:
        station = RawStation(ws)
        boot = await station.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        assert boot["interval"] == 60
        await station.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"})
        async with http.get(url) as response:
            view = await response.json()
        assert view["connected"] is True and view["vendor"] == "V"
        assert [(c["connector_id"], c["status"]) for c in view["connectors"]] == [(1, "Available")]
        async with http.delete(url) as response:
            assert response.status == 204
        closed = await ws.receive(timeout=5)
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    async with http.get(url) as response:
        assert response.status == 404
    async with http.delete(url) as response:
        assert response.status == 204


async def test_bad_registration_is_a_422(platform, http: aiohttp.ClientSession) -> None:
    async with http.put(platform.url("ocpp") + "/internal/stations/OP-2", json={"heartbeat_interval": 1}) as response:
        assert response.status == 422


async def test_a_station_bills_with_its_tariff_and_a_used_tariff_is_not_deleted(
    platform, http: aiohttp.ClientSession
) -> None:
    billing = platform.url("billing")
    async with http.put(billing + "/internal/tariffs/tou", json=TOU_TARIFF) as response:
        assert response.status == 200
    async with http.put(billing + "/internal/stations/S9/tariff", json={"tariff_id": "tou"}) as response:
        assert response.status == 200
    async with http.put(billing + "/internal/stations/S9/tariff", json={"tariff_id": "nope"}) as response:
        assert response.status == 404
    async with http.delete(billing + "/internal/tariffs/tou") as response:
        assert response.status == 409
        assert (await response.json())["error"]["details"]["stations"] == ["S9"]
    # 2026-03-02 09:00-10:00 Berlin is peak: 5 kWh x 0.40 = 2.00, +20 % = 2.40
    event = {"session_id": 1, "station_id": "S9", "connector_id": 1, "meter_start_wh": 0, "meter_stop_wh": 5000,
             "started_at": "2026-03-02T08:00:00Z", "stopped_at": "2026-03-02T09:00:00Z"}
    await platform.db.execute(
        "INSERT INTO charging_sessions (id, station_id, connector_id, status, meter_start_wh, started_at)"
        " VALUES (1, 'S9', 1, 'completed', 0, '2026-03-02T08:00:00Z')"
    )
    async with http.post(billing + "/internal/ocpp/session-stopped", json=event) as response:
        bill = await response.json()
    assert (bill["tariff_id"], bill["amount_incl_tax"]) == ("tou", "2.4000")
    async with http.delete(billing + "/internal/stations/S9/tariff") as response:
        assert response.status == 204
    async with http.delete(billing + "/internal/tariffs/tou") as response:
        assert response.status == 204
    async with http.get(billing + "/internal/tariffs/tou") as response:
        assert response.status == 404


@pytest.mark.parametrize("bad", [{"currency": "euro"}, {"tax_rate": "1.5"}, {"elements": []}, {"colour": "red"}])
async def test_an_invalid_tariff_is_rejected(platform, http: aiohttp.ClientSession, bad: dict) -> None:
    async with http.put(platform.url("billing") + "/internal/tariffs/bad", json={**TOU_TARIFF, **bad}) as response:
        assert response.status == 422
