"""Configuration keys end to end: the gateway reads them after an accepted boot, keeps them per
station, enforces the desired values on an online station, and the public API shows it all."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson
import pytest

from chargeplane.emulator.station import Station, StationConfig
from chargeplane.services.auth.repository import save_client
from support.station import RawStation
from support.waiting import wait_for

SECRET = "s3cret-s3cret-s3cret"


class Api:
    def __init__(self, http: aiohttp.ClientSession, base: str, token: str) -> None:
        self.http, self.base, self.headers = http, base, {"Authorization": f"Bearer {token}"}

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.http.get(self.base + path, headers=self.headers) as response:
            return response.status, await response.json()

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        async with self.http.post(self.base + path, headers=self.headers, json=body) as response:
            return response.status, await response.json()

    async def configuration(self, station_id: str) -> dict[str, Any]:
        status, body = await self.get(f"/stations/{station_id}/configuration")
        assert status == 200, body
        return dict(body)


@pytest.fixture
async def api(platform, http: aiohttp.ClientSession) -> Api:
    await save_client(platform.db, "operator", SECRET, ["read", "operate"])
    base = platform.url("api_gateway") + "/api/v1"
    async with http.post(base + "/auth/token", json={"client_id": "operator", "client_secret": SECRET}) as response:
        assert response.status == 200
        return Api(http, base, (await response.json())["access_token"])


async def register(platform, http: aiohttp.ClientSession, station_id: str, **body: Any) -> tuple[int, Any]:
    """The registry PUT the operator makes."""
    async with http.put(f"{platform.url('ocpp')}/internal/stations/{station_id}", json=body) as response:
        return response.status, await response.json()


@asynccontextmanager
async def emulated(platform, station_id: str) -> AsyncIterator[Station]:
    station = Station(StationConfig(station_id, csms_url=platform.ocpp_url, meter_interval=60))
    await station.connect()
    try:
        yield station
    finally:
        await station.close()


def by_key(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["key"]: item for item in items}


async def sent_frames(platform, station_id: str, action: str) -> list[list[Any]]:
    rows = await platform.db.fetch("SELECT frame FROM ocpp_message_log WHERE station_id = $1 AND direction = 'out'"
                                   " AND action = $2 ORDER BY id", station_id, action)
    return [orjson.loads(row["frame"]) for row in rows]


async def test_after_an_accepted_boot_the_gateway_reads_and_keeps_the_stations_keys(platform, api, http) -> None:
    await register(platform, http, "CFG-RAW")
    async with http.ws_connect(f"{platform.ocpp_url}/CFG-RAW", protocols=["ocpp1.6"]) as ws:
        station = RawStation(ws)
        reply = await station.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        # the CALLRESULT came first: the gateway's own call waits until the station has its reply
        assert reply["status"] == "Accepted" and station.csms_calls == []
        call = orjson.loads(await ws.receive_str(timeout=10))
        assert call[0] == 2 and call[2:] == ["GetConfiguration", {}]
        await ws.send_str(orjson.dumps([3, call[1], {
            "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                                 {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
                                 {"key": "AuthorizationKey", "readonly": False, "value": "never-kept"},
                                 {"key": "ChargeProfileMaxStackLevel", "readonly": True}],
        }]).decode())

        async def reported() -> dict[str, Any] | None:
            configuration = await api.configuration("CFG-RAW")
            return configuration if configuration["keys"] else None

        configuration = await wait_for(reported, 10)
    keys = by_key(configuration["keys"])
    assert set(keys) == {"HeartbeatInterval", "NumberOfConnectors", "ChargeProfileMaxStackLevel"}  # write-only dropped
    assert (keys["HeartbeatInterval"]["value"], keys["HeartbeatInterval"]["readonly"]) == ("300", False)
    assert (keys["NumberOfConnectors"]["value"], keys["NumberOfConnectors"]["readonly"]) == ("2", True)
    assert keys["ChargeProfileMaxStackLevel"]["value"] is None
    assert all(key["reported_at"] for key in keys.values())
    assert configuration["unknown_keys"] == [] and configuration["changes"] == []
    assert configuration["desired"] == {"status": "Applied", "keys": []}


async def test_a_station_that_is_not_accepted_is_not_asked(platform, http) -> None:
    await register(platform, http, "CFG-PENDING", registration_status="Pending")
    async with http.ws_connect(f"{platform.ocpp_url}/CFG-PENDING", protocols=["ocpp1.6"]) as ws:
        station = RawStation(ws)
        assert (await station.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
                )["status"] == "Pending"
        await station.call("Heartbeat", {})
        await station.call("Heartbeat", {})
        assert station.csms_calls == []


async def test_the_emulators_keys_are_visible_after_it_boots(platform, api, http) -> None:
    await register(platform, http, "CFG-EMU")
    async with emulated(platform, "CFG-EMU"):
        async def reported() -> dict[str, Any] | None:
            configuration = await api.configuration("CFG-EMU")
            return configuration if configuration["keys"] else None

        keys = by_key((await wait_for(reported, 15))["keys"])
    assert keys["HeartbeatInterval"]["value"] == "300"  # what the boot reply gave it
    assert keys["NumberOfConnectors"] == {**keys["NumberOfConnectors"], "value": "1", "readonly": True}
    assert keys["WebSocketPingInterval"]["readonly"] is False
    status, body = await api.get("/stations/NOBODY/configuration")
    assert (status, body["error"]["code"]) == (404, "station_not_found")


DESIRED = {"HeartbeatInterval": "120", "NumberOfConnectors": "4", "NoSuchKey": "1", "WebSocketPingInterval": "30"}


async def test_desired_keys_are_enforced_on_an_online_station(platform, api, http) -> None:
    await register(platform, http, "CFG-ON")
    async with emulated(platform, "CFG-ON") as station:
        async def booted_and_read() -> bool:
            return bool((await api.configuration("CFG-ON"))["keys"])

        await wait_for(booted_and_read, 15)
        status, _ = await register(platform, http, "CFG-ON", desired_configuration=DESIRED)
        assert status == 200

        async def settled() -> dict[str, Any] | None:
            configuration = await api.configuration("CFG-ON")
            pending = [k for k in configuration["desired"]["keys"] if k["status"] == "Pending"]
            return None if pending else configuration

        configuration = await wait_for(settled, 20)
        # the station itself took the value, and reports it back
        assert station.configuration.get("HeartbeatInterval") == "120"
        assert station.heartbeat_interval == 120
    changes = await sent_frames(platform, "CFG-ON", "ChangeConfiguration")
    assert sorted(frame[3]["key"] for frame in changes) == sorted(DESIRED)
    assert {frame[3]["key"]: frame[3]["value"] for frame in changes} == DESIRED
    desired = by_key(configuration["desired"]["keys"])
    assert configuration["desired"]["status"] == "Rejected"
    assert desired["HeartbeatInterval"] | {"requested_at": None} == {
        "key": "HeartbeatInterval", "value": "120", "reported_value": "120", "status": "Applied",
        "answer": "Accepted", "detail": None, "requested_at": None}
    assert (desired["NumberOfConnectors"]["status"], desired["NumberOfConnectors"]["reported_value"]) == (
        "Rejected", "1")
    assert by_key(configuration["keys"])["NumberOfConnectors"]["readonly"] is True
    assert desired["NoSuchKey"]["status"] == "NotSupported"
    assert (desired["WebSocketPingInterval"]["status"], desired["WebSocketPingInterval"]["reported_value"]) == (
        "RebootRequired", "30")
    assert by_key(configuration["changes"])["HeartbeatInterval"]["source"] == "desired"
    assert by_key(configuration["keys"])["HeartbeatInterval"]["value"] == "120"


async def test_desired_keys_set_while_offline_are_enforced_at_the_next_boot(platform, api, http) -> None:
    await register(platform, http, "CFG-OFF",
                   desired_configuration={"MeterValueSampleInterval": "30", "WebSocketPingInterval": "15"})
    assert (await api.configuration("CFG-OFF"))["desired"]["status"] == "Pending"
    assert await sent_frames(platform, "CFG-OFF", "ChangeConfiguration") == []

    def status_is(wanted: str) -> Callable[[], Awaitable[bool]]:
        async def desired_status() -> bool:
            return bool((await api.configuration("CFG-OFF"))["desired"]["status"] == wanted)
        return desired_status

    async with emulated(platform, "CFG-OFF") as station:
        await wait_for(status_is("RebootRequired"), 20)
        assert station.configuration.get("MeterValueSampleInterval") == "30"
        # the operator reboots it; once it booted again, what needed the reboot has taken effect
        status, body = await api.post("/stations/CFG-OFF/commands/Reset", {"type": "Soft"})
        assert (status, body["result"]) == (200, {"status": "Accepted"})

        async def went_down() -> bool:
            return not station.is_online

        await wait_for(went_down, 10)
        await station.connect()
        await wait_for(status_is("Applied"), 20)
    # the second boot found every key as desired: nothing was sent again
    assert len(await sent_frames(platform, "CFG-OFF", "ChangeConfiguration")) == 2


async def test_configuration_commands_through_the_api_are_kept(platform, api, http) -> None:
    await register(platform, http, "CFG-API")
    async with emulated(platform, "CFG-API"):
        async def booted_and_read() -> bool:
            return bool((await api.configuration("CFG-API"))["keys"])

        await wait_for(booted_and_read, 15)
        status, body = await api.post("/stations/CFG-API/commands/ChangeConfiguration",
                                      {"key": "MeterValueSampleInterval", "value": "30"})
        assert (status, body["result"]) == (200, {"status": "Accepted"})
        status, body = await api.post("/stations/CFG-API/commands/ChangeConfiguration",
                                      {"key": "NumberOfConnectors", "value": "3"})
        assert (status, body["result"]) == (200, {"status": "Rejected"})
        status, body = await api.post("/stations/CFG-API/commands/GetConfiguration", {"key": ["Nope"]})
        assert (status, body["result"]) == (200, {"configurationKey": [], "unknownKey": ["Nope"]})
        # the accepted change was read back at once: the API shows the station's new value
        configuration = await api.configuration("CFG-API")
    keys, changes = by_key(configuration["keys"]), by_key(configuration["changes"])
    assert keys["MeterValueSampleInterval"]["value"] == "30"
    assert (changes["MeterValueSampleInterval"]["status"], changes["MeterValueSampleInterval"]["source"]) == (
        "Accepted", "api")
    assert (changes["NumberOfConnectors"]["status"], keys["NumberOfConnectors"]["value"]) == ("Rejected", "1")
    assert [key["key"] for key in configuration["unknown_keys"]] == ["Nope"]


@pytest.mark.parametrize(("desired", "field"), [
    ({"AuthorizationKey": "0123456789abcdef"}, "AuthorizationKey is write-only"),
    ({"K" * 51: "1"}, "at most 50 characters"),
    ({"HeartbeatInterval": "9" * 501}, "at most 500 characters"),
])
async def test_the_registry_refuses_desired_keys_it_cannot_enforce(platform, http, desired, field) -> None:
    status, body = await register(platform, http, "CFG-BAD", desired_configuration=desired)
    assert status == 422 and field in str(body["error"]["details"]), body
    assert await platform.db.fetchval("SELECT count(*) FROM charging_stations WHERE id = 'CFG-BAD'") == 0
