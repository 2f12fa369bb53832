"""ReserveNow and CancelReservation through the public API against the emulator: the frame
the station received, the reservation stored, the connector Reserved, a StartTransaction
carrying the reservationId consuming it, and expiry releasing it on both sides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chargeplane.emulator.configuration import SUPPORTED_FEATURE_PROFILES
from chargeplane.services.ocpp.features.reservations.repository import Reservations
from support.public_api import PublicApi, emulated_station, operator_api
from support.station import RawStation
from support.waiting import wait_for

STATION = "RES-1"
TAG = "RES-TAG"


@pytest.fixture
async def api(platform, http) -> PublicApi:
    return await operator_api(platform, http)


def in_seconds(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def reserve(api: PublicApi, connector_id: int = 1, id_tag: str = TAG,
                  expires_in_s: float = 600) -> tuple[int, dict[str, Any]]:
    return await api.post(f"/stations/{STATION}/reservations", {
        "connector_id": connector_id, "id_tag": id_tag, "expires_at": in_seconds(expires_in_s)}, timeout=10)


async def reservation_list(api: PublicApi, **query: str) -> list[dict[str, Any]]:
    status, body = await api.get(f"/stations/{STATION}/reservations", **query)
    assert status == 200, body
    items: list[dict[str, Any]] = body["items"]
    return items


async def connector_status(api: PublicApi, connector_id: int) -> str | None:
    _, station = await api.get(f"/stations/{STATION}")
    return next((c["status"] for c in station["connectors"] if c["connector_id"] == connector_id), None)


async def test_a_reservation_is_consumed_by_the_start_that_carries_its_id(platform, api) -> None:
    async with emulated_station(platform, STATION, connectors=2) as (station, frames):
        status, body = await reserve(api)
        assert status == 201, body
        assert body["result"] == {"status": "Accepted"}
        reservation = body["reservation"]
        assert (reservation["status"], reservation["connector_id"], reservation["id_tag"]) == ("Active", 1, TAG)
        [sent] = frames.calls_received("ReserveNow")
        assert (sent["reservationId"], sent["connectorId"], sent["idTag"]) == (reservation["reservation_id"], 1, TAG)

        async def reserved() -> bool:
            return await connector_status(api, 1) == "Reserved"

        await wait_for(reserved)
        assert station.connectors[1].status == "Reserved"

        # another tag may not use the reserved connector
        status, body = await api.command(STATION, "RemoteStartTransaction", {"idTag": "SOMEONE", "connectorId": 1})
        assert (status, body["result"]) == (200, {"status": "Rejected"})
        status, body = await api.command(STATION, "RemoteStartTransaction", {"idTag": TAG, "connectorId": 1})
        assert (status, body["result"]) == (200, {"status": "Accepted"})

        async def consumed() -> dict[str, Any] | None:
            [latest] = await reservation_list(api)
            return latest if latest["status"] == "Consumed" else None

        latest = await wait_for(consumed)
        [start] = frames.calls_sent("StartTransaction")
        assert start["reservationId"] == reservation["reservation_id"]

        async def charging() -> int | None:
            return station.connectors[1].transaction_id

        assert latest["transaction_id"] == await wait_for(charging)
        await platform.outbox_drained()
        _, session = await api.get(f"/sessions/{latest['transaction_id']}")
        assert session["reservation_id"] == reservation["reservation_id"]
        assert station.connectors[1].reservation is None


async def test_a_cancelled_reservation_frees_the_connector(platform, api) -> None:
    async with emulated_station(platform, STATION) as (station, frames):
        _, body = await reserve(api)
        reservation_id = body["reservation"]["reservation_id"]
        status, cancelled = await api.delete(f"/stations/{STATION}/reservations/{reservation_id}")
        assert status == 200, cancelled
        assert cancelled["result"] == {"status": "Accepted"}
        assert cancelled["reservation"]["status"] == "Cancelled"
        assert frames.calls_received("CancelReservation") == [{"reservationId": reservation_id}]

        async def available() -> bool:
            return await connector_status(api, 1) == "Available"

        await wait_for(available)
        assert station.connectors[1].reservation is None
        status, body = await api.delete(f"/stations/{STATION}/reservations/{reservation_id}")
        assert (status, body["error"]["code"]) == (404, "reservation_not_found")


async def test_an_expired_reservation_is_released_by_the_station_and_the_platform(platform, api) -> None:
    async with emulated_station(platform, STATION) as (station, _):
        status, body = await reserve(api, expires_in_s=5)
        assert (status, body["reservation"]["status"]) == (201, "Active")

        async def reserved() -> bool:
            return await connector_status(api, 1) == "Reserved"

        async def released() -> bool:
            return await connector_status(api, 1) == "Available"

        async def expired() -> bool:
            return [r["status"] for r in await reservation_list(api)] == ["Expired"]

        await wait_for(reserved)
        await wait_for(released)
        await wait_for(expired)
        assert station.connectors[1].reservation is None
        # the connector is free for anyone again
        status, body = await api.command(STATION, "RemoteStartTransaction", {"idTag": "ANYONE", "connectorId": 1})
        assert (status, body["result"]) == (200, {"status": "Accepted"})


async def test_refusals_are_stored_and_the_generic_command_path_records_too(platform, api) -> None:
    async with emulated_station(platform, STATION, connectors=2) as (station, frames):
        await station.plug_in(1)
        status, body = await reserve(api, connector_id=1)
        assert (status, body["result"]) == (201, {"status": "Occupied"})
        assert (body["reservation"]["status"], body["reservation"]["station_status"]) == ("Rejected", "Occupied")
        status, body = await reserve(api, connector_id=0)
        assert body["result"] == {"status": "Rejected"}  # the emulator does not reserve "any connector"

        # ReserveNow sent as a plain command is recorded as well, with the caller's reservationId
        payload = {"connectorId": 2, "expiryDate": in_seconds(600), "idTag": TAG, "reservationId": 4711}
        status, body = await api.command(STATION, "ReserveNow", payload)
        assert (status, body["result"]) == (200, {"status": "Accepted"})
        status, body = await api.command(STATION, "ReserveNow", {**payload, "idTag": "OTHER"})  # same id: replaced
        assert body["result"] == {"status": "Accepted"}
        assert station.connectors[2].reservation.id_tag == "OTHER"
        status, body = await api.command(STATION, "CancelReservation", {"reservationId": 4711})
        assert body["result"] == {"status": "Accepted"}
        assert [(r["reservation_id"], r["id_tag"], r["status"]) for r in await reservation_list(api)][:2] == [
            (4711, "OTHER", "Cancelled"), (4711, TAG, "Replaced")]
        status, body = await api.command(STATION, "CancelReservation", {"reservationId": 4711})
        assert body["result"] == {"status": "Rejected"}  # the station no longer knows it
        assert len(frames.calls_received("CancelReservation")) == 2
        assert [r["station_status"] for r in await reservation_list(api, status="Rejected")] == [
            "Rejected", "Occupied"]

        station.configuration.set(SUPPORTED_FEATURE_PROFILES, "Core")  # a station without the profile
        status, body = await reserve(api, connector_id=2)
        assert (status, body["error"]["details"]["errorCode"]) == (502, "NotSupported")


async def test_an_offline_station_and_a_past_expiry(platform, api) -> None:
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ($1)", STATION)
    status, body = await reserve(api)
    assert (status, body["error"]["code"]) == (409, "station_offline")
    status, body = await reserve(api, expires_in_s=-5)
    assert (status, body["error"]["code"]) == (422, "expired")
    assert await reservation_list(api) == []


async def test_a_start_in_time_consumes_a_reservation_the_sweeper_expired(platform, http) -> None:
    """The station started just before the expiry; the sweeper got there before its message."""
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ($1)", STATION)
    async with http.ws_connect(f"{platform.ocpp_url}/{STATION}", protocols=["ocpp1.6"]) as ws:
        station = RawStation(ws)
        await station.call("Heartbeat", {})
        await Reservations(platform.db).record_reserve_now(STATION, {
            "connectorId": 1, "expiryDate": in_seconds(-5), "idTag": TAG, "reservationId": 99}, "Accepted")
        await Reservations(platform.db).expire()  # unless the gateway's own sweeper was first
        assert await platform.db.fetchval("SELECT status FROM reservations") == "Expired"
        reply = await station.call("StartTransaction", {"connectorId": 1, "idTag": TAG, "meterStart": 0,
                                                        "timestamp": in_seconds(-10), "reservationId": 99})
    row = await platform.db.fetchrow("SELECT status, transaction_id FROM reservations")
    assert (row["status"], row["transaction_id"]) == ("Consumed", reply["transactionId"])
