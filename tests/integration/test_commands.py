"""Commands to stations, across two gateway processes that share Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import pytest
from redis.asyncio import Redis

from chargeplane.embedded import free_port
from chargeplane.emulator.station import Station, StationConfig
from chargeplane.services.ocpp.core.commands import owner_key, replica_key
from chargeplane.supervisor import python_module, wait_ready
from support.station import RawStation

STATION = "CMD-1"


@dataclass(frozen=True)
class Gateway:
    api_url: str  # its internal API
    ocpp_url: str  # where stations connect


@pytest.fixture
def second_gateway(platform, tmp_path) -> Iterator[Gateway]:
    """Another gateway replica, as its own process, on the same PostgreSQL and Redis."""
    from chargeplane.supervisor import SupervisedProcess

    port, internal_port = free_port(), free_port()
    settings = platform.settings_for("ocpp")
    env = {**os.environ, "SERVICE_NAME": "ocpp", "PORT": str(port), "INTERNAL_PORT": str(internal_port),
           "DATABASE_URL": str(settings["database_url"]),
           "REDIS_URL": str(settings["redis_url"]), "SESSIONS_URL": str(settings["sessions_url"]),
           "TELEMETRY_URL": str(settings["telemetry_url"]), "AUTH_URL": str(settings["auth_url"])}
    process = SupervisedProcess("ocpp-b", python_module("chargeplane.services.ocpp"), env, tmp_path / "ocpp-b.log")
    process.start()
    try:
        wait_ready(f"http://127.0.0.1:{internal_port}", 30, process)
        yield Gateway(f"http://127.0.0.1:{internal_port}", f"ws://127.0.0.1:{port}/ocpp")
    finally:
        process.stop()


@asynccontextmanager
async def emulated_station(ocpp_url: str) -> AsyncIterator[Station]:
    station = Station(StationConfig(STATION, csms_url=ocpp_url, meter_interval=0.2))
    await station.connect()
    try:
        yield station
    finally:
        await station.close()


async def command(http: aiohttp.ClientSession, gateway: str, action: str, payload: dict,
                  wait_s: float = 10) -> tuple[int, dict]:
    url = f"{gateway}/internal/stations/{STATION}/commands/{action}?timeout={wait_s}"
    async with http.post(url, json=payload) as response:
        return response.status, await response.json()


@pytest.fixture
async def registered(platform) -> None:
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ($1)", STATION)


async def wait_until(predicate, within_s: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(within_s / 0.05)):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{predicate.__name__} never became true")


async def test_a_command_reaches_the_station_through_the_replica_that_holds_it(
    platform, registered, second_gateway: Gateway, http: aiohttp.ClientSession
) -> None:
    gateway_a = platform.url("ocpp")
    async with emulated_station(second_gateway.ocpp_url):  # the station lives on replica B
        status, body = await command(http, gateway_a, "GetConfiguration", {"key": ["HeartbeatInterval"]})
        assert status == 200, body
        assert body["result"]["configurationKey"][0]["key"] == "HeartbeatInterval"
        status, body = await command(http, gateway_a, "RemoteStartTransaction", {"connectorId": 1, "idTag": "R1"})
        assert (status, body["result"]) == (200, {"status": "Accepted"})

        async def session_started() -> bool:
            return await platform.db.fetchval("SELECT status FROM remote_start_requests") == "started"

        await wait_until(session_started)
        transaction_id = await platform.db.fetchval("SELECT transaction_id FROM remote_start_requests")
        status, body = await command(http, gateway_a, "RemoteStopTransaction", {"transactionId": transaction_id})
        assert (status, body["result"]) == (200, {"status": "Accepted"})

        async def session_stopped() -> bool:
            return await platform.db.fetchval("SELECT status FROM charging_sessions WHERE id = $1",
                                              transaction_id) == "completed"

        await wait_until(session_stopped)
    # it reconnects to replica A: a command sent to B now finds it there
    async with emulated_station(platform.ocpp_url):
        status, body = await command(http, second_gateway.api_url, "Reset", {"type": "Soft"})
        assert (status, body["result"]) == (200, {"status": "Accepted"})


@pytest.mark.parametrize("action", ["RemoteStartTransaction", "ChangeAvailability", "UnlockConnector",
                                    "TriggerMessage", "ChangeConfiguration"])
async def test_every_command_answers_from_the_station(platform, registered, http, action: str) -> None:
    payloads = {
        "RemoteStartTransaction": {"idTag": "T1", "connectorId": 1},
        "ChangeAvailability": {"connectorId": 1, "type": "Inoperative"},
        "UnlockConnector": {"connectorId": 1},
        "TriggerMessage": {"requestedMessage": "Heartbeat"},
        "ChangeConfiguration": {"key": "HeartbeatInterval", "value": "120"},
    }
    async with emulated_station(platform.ocpp_url):
        status, body = await command(http, platform.url("ocpp"), action, payloads[action])
    assert status == 200, body
    assert "status" in body["result"]


async def test_an_invalid_payload_is_a_422_naming_the_field(platform, registered, http) -> None:
    status, body = await command(http, platform.url("ocpp"), "Reset", {"type": "Sideways"})
    assert status == 422
    assert body["error"]["details"]["path"] == "type"
    status, body = await command(http, platform.url("ocpp"), "FlyToTheMoon", {})
    assert status == 404


async def test_an_offline_station_and_a_silent_one(platform, registered, http) -> None:
    status, body = await command(http, platform.url("ocpp"), "Reset", {"type": "Soft"})
    assert (status, body["error"]["code"]) == (409, "station_offline")
    async with http.ws_connect(f"{platform.ocpp_url}/{STATION}", protocols=["ocpp1.6"]) as ws:
        await RawStation(ws).call("Heartbeat", {})  # connected, but never answers our CALL
        status, body = await command(http, platform.url("ocpp"), "Reset", {"type": "Soft"}, wait_s=1)
        assert (status, body["error"]["code"]) == (504, "station_timeout")
    # a new connection of the same station is not blocked by the unanswered command
    async with emulated_station(platform.ocpp_url):
        status, body = await command(http, platform.url("ocpp"), "Reset", {"type": "Soft"})
        assert status == 200, body


async def test_an_accepted_remote_start_without_a_session_expires(platform, registered, http) -> None:
    async with http.ws_connect(f"{platform.ocpp_url}/{STATION}", protocols=["ocpp1.6"]) as ws:
        await RawStation(ws).call("Heartbeat", {})
        request = asyncio.create_task(command(http, platform.url("ocpp"), "RemoteStartTransaction",
                                              {"idTag": "GHOST", "connectorId": 1}))
        call = (await ws.receive_json(timeout=5))
        assert call[2] == "RemoteStartTransaction"
        await ws.send_json([3, call[1], {"status": "Accepted"}])
        assert (await request)[0] == 200
    await platform.db.execute("UPDATE remote_start_requests SET expires_at = now() - interval '1 second'")
    from chargeplane.services.ocpp.features.core_messages.repository import REMOTE_STARTS

    expired = await platform.runners["ocpp"].app[REMOTE_STARTS].expire()
    assert [r["id_tag"] for r in expired] == ["GHOST"]
    assert await platform.db.fetchval("SELECT count(*) FROM charging_sessions") == 0
    async with http.get(f"{platform.url('ocpp')}/internal/stations/{STATION}/remote-starts") as response:
        assert [(r["id_tag"], r["status"]) for r in (await response.json())["items"]] == [("GHOST", "expired")]




async def test_a_station_claimed_by_a_replica_that_is_gone_is_offline(platform, registered, http) -> None:
    """A replica that dies leaves its claims in Redis; they stop counting with its key."""
    redis = Redis.from_url(str(platform.settings_for("ocpp")["redis_url"]))
    try:
        await redis.set(owner_key(STATION), "a-replica-that-died")
        assert not await redis.exists(replica_key("a-replica-that-died"))
        status, body = await command(http, platform.url("ocpp"), "Reset", {"type": "Soft"}, wait_s=5)
        assert (status, body["error"]["code"]) == (409, "station_offline")
        # while its key lives, the claim counts: the command goes to it (and times out there)
        await redis.set(replica_key("a-replica-that-died"), b"1", ex=5)
        status, body = await command(http, platform.url("ocpp"), "Reset", {"type": "Soft"}, wait_s=0.5)
        assert (status, body["error"]["code"]) == (504, "station_timeout")
    finally:
        await redis.delete(owner_key(STATION), replica_key("a-replica-that-died"))
        await redis.aclose()
