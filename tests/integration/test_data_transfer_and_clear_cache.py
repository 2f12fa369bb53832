"""Core's DataTransfer in both directions (the vendor registry on each side) and ClearCache,
through the public API against the emulator."""

from __future__ import annotations

import pytest

from chargeplane.common.timeutil import parse_ocpp
from chargeplane.emulator.data_transfer import send_data_transfer
from support.public_api import PublicApi, emulated_station, operator_api, stored_calls, stored_reply
from support.station import assert_valid_reply
from support.waiting import wait_for


@pytest.fixture
async def api(platform, http) -> PublicApi:
    return await operator_api(platform, http)


@pytest.mark.parametrize(("request_payload", "answer"), [
    ({"vendorId": "org.chargeplane", "messageId": "echo", "data": "hello"}, {"status": "Accepted", "data": "hello"}),
    ({"vendorId": "org.chargeplane", "messageId": "teleport"}, {"status": "UnknownMessageId"}),
    ({"vendorId": "com.acme"}, {"status": "UnknownVendorId"}),
])
async def test_a_data_transfer_to_the_station(platform, api: PublicApi, request_payload, answer) -> None:
    async with emulated_station(platform, "DT-1") as (_, frames):
        status, body = await api.command("DT-1", "DataTransfer", request_payload)
        assert (status, body["result"]) == (200, answer)
        assert frames.calls_received("DataTransfer") == [request_payload]
        assert await wait_for(lambda: stored_reply(platform.db, "DT-1", "DataTransfer")) == answer


async def test_the_station_pings_the_csms_with_a_data_transfer(platform) -> None:
    async with emulated_station(platform, "DT-2") as (station, _):
        echo = await send_data_transfer(station, "org.chargeplane", "echo", '{"n": 1}')
        ping = await send_data_transfer(station, "org.chargeplane", "ping")
        unknown_message = await send_data_transfer(station, "org.chargeplane", "teleport", "x")
        unknown_vendor = await send_data_transfer(station, "com.acme", "anything")
    assert echo == {"status": "Accepted", "data": '{"n": 1}'}
    assert ping["status"] == "Accepted" and parse_ocpp(ping["data"])  # the CSMS's clock
    assert unknown_message == {"status": "UnknownMessageId"}
    assert unknown_vendor == {"status": "UnknownVendorId"}
    for reply in (echo, ping, unknown_message, unknown_vendor):
        assert_valid_reply("DataTransfer", reply)

    async def all_logged() -> list[dict]:
        calls = await stored_calls(platform.db, "DT-2", "DataTransfer")
        return calls if len(calls) == 4 else []

    assert [c["vendorId"] for c in await wait_for(all_logged)] == ["org.chargeplane"] * 3 + ["com.acme"]


async def test_clear_cache_empties_the_station_authorization_cache(platform, api: PublicApi) -> None:
    async with emulated_station(platform, "CC-1") as (station, frames):
        await station.start_session(1, "CARD-1")  # Authorize and StartTransaction fill the cache
        await station.stop_session(1)
        assert station.auth_cache.get("CARD-1") == {"status": "Accepted"}
        status, body = await api.command("CC-1", "ClearCache", {})
        assert (status, body["result"]) == (200, {"status": "Accepted"})
        assert frames.calls_received("ClearCache") == [{}]
        assert len(station.auth_cache) == 0
        assert await wait_for(lambda: stored_reply(platform.db, "CC-1", "ClearCache")) == {"status": "Accepted"}
