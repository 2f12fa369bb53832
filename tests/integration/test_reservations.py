"""ReserveNow and CancelReservation through the public API against the emulator: the frame
the station received, the reservation stored, the connector Reserved, a StartTransaction
carrying the reservationId consuming it, and expiry releasing it on both sides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from chargeplane.emulator.configuration import SUPPORTED_FEATURE_PROFILES
from chargeplane.services.ocpp import reservations
from support.emulated import online_station
from support.station import RawStation
from support.waiting import wait_for

STATION = "RES-1"
TAG = "RES-TAG"


@pytest.fixture
async def registered(platform) -> None:
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ($1)", STATION)


def in_seconds(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def reserve(http: aiohttp.ClientSession, api: Any, connector_id: int = 1, id_tag: str = TAG,
                  expires_in_s: float = 600) -> tuple[int, dict[str, Any]]:
    base, _, operator = api
    async with http.post(f"{base}/stations/{STATION}/reservations", headers=operator,
                         json={"connector_id": connector_id, "id_tag": id_tag,
                               "expires_at": in_seconds(expires_in_s)}) as response:
        return response.status, await response.json()


async def reservation_list(http: aiohttp.ClientSession, api: Any) -> list[dict[str, Any]]:
    base, reader, _ = api
    async with http.get(f"{base}/stations/{STATION}/reservations", headers=reader) as response:
        assert response.status == 200
        items: list[dict[str, Any]] = (await response.json())["items"]
        return items


async def connector_status(http: aiohttp.ClientSession, api: Any, connector_id: int) -> str | None:
    base, reader, _ = api
    async with http.get(f"{base}/stations/{STATION}", headers=reader) as response:
        connectors = (await response.json())["connectors"]
    return next((c["status"] for c in connectors if c["connector_id"] == connector_id), None)


async def command(http: aiohttp.ClientSession, api: Any, action: str, payload: dict[str, Any]) -> tuple[int, Any]:
    base, _, operator = api
    async with http.post(f"{base}/stations/{STATION}/commands/{action}", headers=operator,
                         json=payload) as response:
        return response.status, await response.json()


async def test_a_reservation_is_consumed_by_the_start_that_carries_its_id(platform, registered, api, http) -> None:
    async with online_station(platform.ocpp_url, STATION, connectors=2) as (station, frames):
        status, body = await reserve(http, api)
        assert status == 201, body
        assert body["result"] == {"status": "Accepted"}
        reservation = body["reservation"]
        assert (reservation["status"], reservation["connector_id"], reservation["id_tag"]) == ("Active", 1, TAG)
        [sent] = frames.calls_received("ReserveNow")
        assert (sent["reservationId"], sent["connectorId"], sent["idTag"]) == (reservation["reservation_id"], 1, TAG)

        async def reserved() -> bool:
            return await connector_status(http, api, 1) == "Reserved"

        await wait_for(reserved)
        assert station.connectors[1].status == "Reserved"

        # another tag may not use the reserved connector
        assert await command(http, api, "RemoteStartTransaction", {"idTag": "SOMEONE", "connectorId": 1}) == (
            200, {"station_id": STATION, "action": "RemoteStartTransaction", "result": {"status": "Rejected"}})
        status, body = await command(http, api, "RemoteStartTransaction", {"idTag": TAG, "connectorId": 1})
        assert (status, body["result"]) == (200, {"status": "Accepted"})

        async def consumed() -> dict[str, Any] | None:
            [latest] = await reservation_list(http, api)
            return latest if latest["status"] == "Consumed" else None

        latest = await wait_for(consumed)
        [start] = frames.calls_sent("StartTransaction")
        assert start["reservationId"] == reservation["reservation_id"]

        async def charging() -> int | None:
            return station.connectors[1].transaction_id

        assert latest["transaction_id"] == await wait_for(charging)
        base, reader, _ = api
        await platform.outbox_drained()
        async with http.get(f"{base}/sessions/{latest['transaction_id']}", headers=reader) as response:
            assert (await response.json())["reservation_id"] == reservation["reservation_id"]
        assert station.connectors[1].reservation is None


async def test_a_cancelled_reservation_frees_the_connector(platform, registered, api, http) -> None:
    async with online_station(platform.ocpp_url, STATION) as (station, frames):
        _, body = await reserve(http, api)
        reservation_id = body["reservation"]["reservation_id"]
        base, _, operator = api
        async with http.delete(f"{base}/stations/{STATION}/reservations/{reservation_id}",
                               headers=operator) as response:
            assert response.status == 200
            cancelled = await response.json()
        assert cancelled["result"] == {"status": "Accepted"}
        assert cancelled["reservation"]["status"] == "Cancelled"
        assert frames.calls_received("CancelReservation") == [{"reservationId": reservation_id}]

        async def available() -> bool:
            return await connector_status(http, api, 1) == "Available"

        await wait_for(available)
        assert station.connectors[1].reservation is None
        async with http.delete(f"{base}/stations/{STATION}/reservations/{reservation_id}",
                               headers=operator) as response:
            assert (response.status, (await response.json())["error"]["code"]) == (404, "reservation_not_found")


async def test_an_expired_reservation_is_released_by_the_station_and_the_platform(
        platform, registered, api, http) -> None:
    async with online_station(platform.ocpp_url, STATION) as (station, _):
        status, body = await reserve(http, api, expires_in_s=5)
        assert (status, body["reservation"]["status"]) == (201, "Active")

        async def reserved() -> bool:
            return await connector_status(http, api, 1) == "Reserved"

        async def released() -> bool:
            return await connector_status(http, api, 1) == "Available"

        async def expired() -> bool:
            return [r["status"] for r in await reservation_list(http, api)] == ["Expired"]

        await wait_for(reserved)
        await wait_for(released)
        await wait_for(expired)
        assert station.connectors[1].reservation is None
        # the connector is free for anyone again
        status, body = await command(http, api, "RemoteStartTransaction", {"idTag": "ANYONE", "connectorId": 1})
        assert (status, body["result"]) == (200, {"status": "Accepted"})


async def test_refusals_are_stored_and_the_generic_command_path_records_too(platform, registered, api, http) -> None:
    async with online_station(platform.ocpp_url, STATION, connectors=2) as (station, frames):
        await station.plug_in(1)
        status, body = await reserve(http, api, connector_id=1)
        assert (status, body["result"]) == (201, {"status": "Occupied"})
        assert (body["reservation"]["status"], body["reservation"]["station_status"]) == ("Rejected", "Occupied")
        status, body = await reserve(http, api, connector_id=0)
        assert body["result"] == {"status": "Rejected"}  # the emulator does not reserve "any connector"

        # ReserveNow sent as a plain command is recorded as well, with the caller's reservationId
        payload = {"connectorId": 2, "expiryDate": in_seconds(600), "idTag": TAG, "reservationId": 4711}
        status, body = await command(http, api, "ReserveNow", payload)
        assert (status, body["result"]) == (200, {"status": "Accepted"})
        status, body = await command(http, api, "ReserveNow", {**payload, "idTag": "OTHER"})  # same id: replaced
        assert body["result"] == {"status": "Accepted"}
        assert station.connectors[2].reservation.id_tag == "OTHER"
        status, body = await command(http, api, "CancelReservation", {"reservationId": 4711})
        assert body["result"] == {"status": "Accepted"}
        assert [(r["reservation_id"], r["id_tag"], r["status"]) for r in await reservation_list(http, api)][:2] == [
            (4711, "OTHER", "Cancelled"), (4711, TAG, "Replaced")]
        status, body = await command(http, api, "CancelReservation", {"reservationId": 4711})
        assert body["result"] == {"status": "Rejected"}  # the station no longer knows it
        assert len(frames.calls_received("CancelReservation")) == 2

        base, reader, _ = api
        async with http.get(f"{base}/stations/{STATION}/reservations?status=Rejected", headers=reader) as response:
            assert [r["station_status"] for r in (await response.json())["items"]] == ["Rejected", "Occupied"]

        station.configuration.set(SUPPORTED_FEATURE_PROFILES, "Core")  # a station without the profile
        status, body = await reserve(http, api, connector_id=2)
        assert (status, body["error"]["details"]["errorCode"]) == (502, "NotSupported")


async def test_an_offline_station_and_a_past_expiry(platform, registered, api, http) -> None:
    status, body = await reserve(http, api)
    assert (status, body["error"]["code"]) == (409, "station_offline")
    status, body = await reserve(http, api, expires_in_s=-5)
    assert (status, body["error"]["code"]) == (422, "expired")
    assert await reservation_list(http, api) == []


async def test_a_start_in_time_consumes_a_reservation_the_sweeper_expired(platform, registered, http) -> None:
    """The station started just before the expiry; the sweeper got there before its message."""
    async with http.ws_connect(f"{platform.ocpp_url}/{STATION}", protocols=["ocpp1.6"]) as ws:
        station = RawStation(ws)
        await station.call("Heartbeat", {})
        await reservations.record_reply(platform.db, STATION, "ReserveNow", {
            "connectorId": 1, "expiryDate": in_seconds(-5), "idTag": TAG, "reservationId": 99}, {"status": "Accepted"})
        assert [r["reservation_id"] for r in await reservations.expire(platform.db)] == [99]
        reply = await station.call("StartTransaction", {"connectorId": 1, "idTag": TAG, "meterStart": 0,
                                                        "timestamp": in_seconds(-10), "reservationId": 99})
    row = await platform.db.fetchrow("SELECT status, transaction_id FROM reservations")
    assert (row["status"], row["transaction_id"]) == ("Consumed", reply["transactionId"])
