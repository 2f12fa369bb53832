"""What the gateway does with bad input, odd URLs and duplicate sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from support.station import RawStation

STATION = "CP-PROTO-1"


@pytest.fixture
async def registered(platform) -> str:
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ($1)", STATION)
    return STATION


@pytest.fixture
async def station(platform, registered: str, http: aiohttp.ClientSession) -> AsyncIterator[RawStation]:
    async with http.ws_connect(f"{platform.ocpp_url}/{registered}", protocols=["ocpp1.6"]) as ws:
        yield RawStation(ws)


@pytest.mark.parametrize(
    ("frame", "unique_id", "code"),
    [
        ("not json at all", "-1", "FormationViolation"),
        ('{"an": "object"}', "-1", "FormationViolation"),
        ("[2]", "-1", "FormationViolation"),
        ('[2, 17, "Heartbeat", {}]', "-1", "FormationViolation"),
        ('[2, "u1", "Heartbeat"]', "u1", "FormationViolation"),
        ('[2, "u2", "Heartbeat", []]', "u2", "FormationViolation"),
        ('[9, "u3", "Heartbeat", {}]', "u3", "ProtocolError"),
        ('[2, "u4", "FlyToTheMoon", {}]', "u4", "NotImplemented"),
        ('[2, "u5", "Reset", {"type": "Hard"}]', "u5", "NotImplemented"),  # a CSMS action
        ('[2, "u6", "StartTransaction", {"connectorId": 1}]', "u6", "ProtocolError"),
        ('[2, "u7", "StartTransaction", {"connectorId": "one", "idTag": "A", "meterStart": 0,'
         ' "timestamp": "2026-01-01T00:00:00Z"}]', "u7", "TypeConstraintViolation"),
        ('[2, "u8", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Dancing"}]',
         "u8", "PropertyConstraintViolation"),
        ('[2, "u9", "Authorize", {"idTag": "' + "X" * 21 + '"}]', "u9", "TypeConstraintViolation"),
        ('[2, "u10", "Heartbeat", {"extra": 1}]', "u10", "FormationViolation"),
        ('[2, "u11", "StopTransaction", {"transactionId": 1, "meterStop": 0, "timestamp": "yesterday"}]',
         "u11", "PropertyConstraintViolation"),
    ],
)
async def test_bad_frames_get_the_right_callerror_and_the_connection_lives(
    station: RawStation, frame: str, unique_id: str, code: str
) -> None:
    reply = await station.send_raw(frame)
    assert reply[:3] == [4, unique_id, code], reply
    assert isinstance(reply[3], str) and isinstance(reply[4], dict)
    assert "currentTime" in await station.call("Heartbeat", {})


async def test_unknown_station_is_refused_at_the_handshake(platform, http: aiohttp.ClientSession) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(f"{platform.ocpp_url}/NOBODY", protocols=["ocpp1.6"])
    assert refused.value.status == 404


async def test_wrong_ocpp_version_is_refused(platform, registered: str, http: aiohttp.ClientSession) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(f"{platform.ocpp_url}/{registered}", protocols=["ocpp2.0.1"])
    assert refused.value.status == 400


async def test_legacy_query_url_works(platform, registered: str, http: aiohttp.ClientSession) -> None:
    async with http.ws_connect(f"{platform.ocpp_url}/ws?station_id={registered}", protocols=["ocpp1.6"]) as ws:
        assert "currentTime" in await RawStation(ws).call("Heartbeat", {})


async def test_a_new_connection_of_a_station_replaces_the_old_one(
    platform, registered: str, http: aiohttp.ClientSession
) -> None:
    old = await http.ws_connect(f"{platform.ocpp_url}/{registered}", protocols=["ocpp1.6"])
    async with http.ws_connect(f"{platform.ocpp_url}/{registered}", protocols=["ocpp1.6"]) as new:
        message = await old.receive(timeout=5)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert "currentTime" in await RawStation(new).call("Heartbeat", {})
        await asyncio.sleep(0.1)  # the old socket's cleanup must not mark the station offline
        assert await platform.db.fetchval("SELECT connected FROM charging_stations WHERE id = $1", registered)
    await old.close()


async def test_a_station_that_disconnects_is_marked_offline(platform, registered: str, http) -> None:
    async with http.ws_connect(f"{platform.ocpp_url}/{registered}", protocols=["ocpp1.6"]) as ws:
        await RawStation(ws).call("Heartbeat", {})
    for _ in range(100):
        if not await platform.db.fetchval("SELECT connected FROM charging_stations WHERE id = $1", registered):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("station still marked connected")


async def test_a_database_failure_answers_internal_error_and_loses_nothing(platform, station: RawStation) -> None:
    # A CALLRESULT means durable: when the write fails, the station must be told to retry.
    await platform.db.execute("ALTER TABLE charging_stations RENAME TO charging_stations_away")
    try:
        reply = await station.send_raw('[2, "db1", "Heartbeat", {}]')
    finally:
        await platform.db.execute("ALTER TABLE charging_stations_away RENAME TO charging_stations")
    assert reply[:3] == [4, "db1", "InternalError"]
    assert "currentTime" in await station.call("Heartbeat", {})
