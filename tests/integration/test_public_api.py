"""The public API through the api-gateway: tokens, scopes, resources, commands, and a
property-based run of schemathesis against the served OpenAPI document."""

from __future__ import annotations

import asyncio
import re
import sys

import aiohttp
import pytest

from chargeplane.services.auth.repository import save_client
from support.station import RawStation, now_z

SECRET = "s3cret-s3cret-s3cret"


@pytest.fixture
async def api(platform, http: aiohttp.ClientSession) -> tuple[str, dict[str, str], dict[str, str]]:
    """(base URL, read-only headers, operate headers)."""
    await save_client(platform.db, "reader", SECRET, ["read"])
    await save_client(platform.db, "operator", SECRET, ["read", "operate"])
    base = platform.url("api_gateway") + "/api/v1"
    headers = []
    for client in ("reader", "operator"):
        async with http.post(base + "/auth/token", json={"client_id": client, "client_secret": SECRET}) as response:
            assert response.status == 200
            headers.append({"Authorization": f"Bearer {(await response.json())['access_token']}"})
    return base, headers[0], headers[1]


async def test_the_api_needs_a_valid_token_with_the_right_scope(api, http) -> None:
    base, reader, _ = api
    async with http.get(base + "/stations") as response:
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "unauthorized"
    async with http.get(base + "/stations", headers={"Authorization": "Bearer forged.token.here"}) as response:
        assert response.status == 401
    async with http.put(base + "/id-tags/CARD1", headers=reader, json={}) as response:
        assert response.status == 403
    async with http.get(base + "/openapi.json") as response:
        assert response.status == 200
        assert "/api/v1/stations/{station_id}/commands/{action}" in (await response.json())["paths"]


async def test_stations_sessions_bills_and_id_tags(platform, api, http) -> None:
    base, reader, operator = api
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ('API-1')")
    async with http.ws_connect(f"{platform.ocpp_url}/API-1", protocols=["ocpp1.6"]) as ws:
        station = RawStation(ws)
        await station.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        tx = (await station.call("StartTransaction", {"connectorId": 1, "idTag": "A", "meterStart": 0,
                                                      "timestamp": now_z()}))["transactionId"]
        await station.call("StopTransaction", {"transactionId": tx, "meterStop": 1000, "timestamp": now_z()})
        await platform.outbox_drained()
        async with http.get(base + "/stations", headers=reader) as response:
            stations = (await response.json())["items"]
        assert [(s["id"], s["connected"]) for s in stations] == [("API-1", True)]
    async with http.get(base + "/sessions?station_id=API-1&status=completed", headers=reader) as response:
        sessions = (await response.json())["items"]
    assert [s["id"] for s in sessions] == [tx]
    async with http.get(f"{base}/sessions/{tx}", headers=reader) as response:
        assert (await response.json())["meter_stop_wh"] == 1000
    async with http.get(f"{base}/billing-transactions?session_id={tx}", headers=reader) as response:
        assert len((await response.json())["items"]) == 1
    async with http.put(base + "/id-tags/CARD1", headers=operator, json={"status": "Blocked"}) as response:
        assert response.status == 200
    async with http.get(base + "/id-tags/CARD1", headers=reader) as response:
        assert (await response.json())["status"] == "Blocked"
    async with http.get(base + "/sessions/99999", headers=reader) as response:
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "session_not_found"


async def test_a_remote_start_through_the_public_api(platform, api, http) -> None:
    from chargeplane.emulator.station import Station, StationConfig

    base, _, operator = api
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ('API-2')")
    station = Station(StationConfig("API-2", csms_url=platform.ocpp_url, meter_interval=0.2))
    await station.connect()
    try:
        async with http.post(base + "/stations/API-2/commands/RemoteStartTransaction", headers=operator,
                             json={"idTag": "APP", "connectorId": 1}) as response:
            assert (response.status, (await response.json())["result"]) == (200, {"status": "Accepted"})
        for _ in range(100):
            if await platform.db.fetchval("SELECT count(*) FROM charging_sessions WHERE station_id = 'API-2'"):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("no session started")
    finally:
        await station.close()


async def test_no_generated_request_makes_the_api_fail(platform, api) -> None:
    """schemathesis generates requests from the OpenAPI document: none may get a 5xx."""
    base, _, operator = api
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ('FUZZ-1')")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-P", "-m", "schemathesis.cli", "run", base + "/openapi.json",
        "--checks", "not_a_server_error", "--header", f"Authorization:{operator['Authorization']}",
        "--max-examples", "15", "--seed", "1", "--request-timeout", "5", "--generation-deterministic",
        # an event stream never ends: test_console_api.py reads it
        "--exclude-operation-id", "station_updates",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 240)
    report = output.decode()
    assert process.returncode == 0, report[-5000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", report)
    assert generated and int(generated[1]) > 100 and generated[1] == generated[2], report[-2000:]


async def test_a_command_waits_as_long_as_the_caller_asked(platform, api, http) -> None:
    """Longer than the api-gateway's usual client timeout: the gateway's 504, not a 503."""
    base, _, operator = api
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ('SILENT-1')")
    async with http.ws_connect(f"{platform.ocpp_url}/SILENT-1", protocols=["ocpp1.6"]) as ws:
        await RawStation(ws).call("Heartbeat", {})  # connected, but never answers our CALL
        async with http.post(f"{base}/stations/SILENT-1/commands/Reset?timeout=7", headers=operator,
                             json={"type": "Soft"}) as response:
            assert (response.status, (await response.json())["error"]["code"]) == (504, "station_timeout")
