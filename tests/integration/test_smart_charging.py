"""Smart charging through the public API against emulated stations: profiles checked, sent,
stored and cleared; the composite schedule the station computes; the power it then draws;
and a site's limit divided among the sessions of its stations as they start and stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from chargeplane.emulator.station import Station, StationConfig
from support.public_api import Frames, PublicApi, operator_api
from support.station import RawStation, now_z
from support.waiting import wait_for

Api = PublicApi  # the public API as a client with the read and operate scopes


@pytest.fixture
async def api(platform, http: aiohttp.ClientSession) -> PublicApi:
    return await operator_api(platform, http)


@asynccontextmanager
async def emulated(platform, station_id: str, connectors: int = 1) -> AsyncIterator[tuple[Station, Frames]]:
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ($1) ON CONFLICT DO NOTHING", station_id)
    received = Frames()
    station = Station(StationConfig(station_id, csms_url=platform.ocpp_url, connectors=connectors, power_kw=11,
                                    meter_interval=0.2), on_event=received)
    await station.connect()
    try:
        yield station, received
    finally:
        await station.close()


@asynccontextmanager
async def charging_raw_station(platform, http: aiohttp.ClientSession, station_id: str,
                               ) -> AsyncIterator[tuple[aiohttp.ClientWebSocketResponse, RawStation, int]]:
    """A bare test station with a transaction running on connector 1: it answers what the test says."""
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ($1)", station_id)
    async with http.ws_connect(f"{platform.ocpp_url}/{station_id}", protocols=["ocpp1.6"]) as ws:
        station = RawStation(ws)
        started = await station.call("StartTransaction", {"connectorId": 1, "idTag": "RAW", "meterStart": 0,
                                                          "timestamp": now_z()})
        yield ws, station, started["transactionId"]


async def call(http: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str],
               body: Any = None) -> tuple[int, Any]:
    async with http.request(method, url, headers=headers, json=body) as response:
        return response.status, await response.json() if response.status != 204 else None


def drawing(station: Station, power_w: float) -> Callable[[], Awaitable[bool]]:
    async def connector_draws() -> bool:
        return station.connectors[1].meter.power_w == power_w

    return connector_draws


def in_seconds(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


CP_MAX = {"connectorId": 0, "csChargingProfiles": {
    "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "ChargePointMaxProfile",
    "chargingProfileKind": "Absolute", "chargingSchedule": {
        "startSchedule": "2026-01-01T00:00:00Z", "chargingRateUnit": "W",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7000}]}}}


def tx_profile(transaction_id: int | None = None) -> dict[str, Any]:
    """5 kW for the first ten minutes of charging, then 9 kW (above the station's 7 kW)."""
    profile: dict[str, Any] = {
        "chargingProfileId": 2, "stackLevel": 1, "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative", "chargingSchedule": {"chargingRateUnit": "W", "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 5000}, {"startPeriod": 600, "limit": 9000}]}}
    if transaction_id is not None:
        profile["transactionId"] = transaction_id
    return {"connectorId": 1, "csChargingProfiles": profile}


async def stored_profiles(http: aiohttp.ClientSession, api: Api, station_id: str) -> dict[int, dict[str, Any]]:
    base, headers = api.base, api.headers
    status, body = await call(http, "GET", f"{base}/stations/{station_id}/charging-profiles", headers)
    assert status == 200, body
    return {p["charging_profile_id"]: p for p in body["items"]}


async def test_profiles_are_sent_stored_combined_and_limit_the_power(platform, api: Api, http) -> None:
    base, headers = api.base, api.headers
    async with emulated(platform, "SC-1") as (station, received):
        status, body = await call(http, "POST", f"{base}/stations/SC-1/charging-profiles", headers, CP_MAX)
        assert (status, body["result"]) == (200, {"status": "Accepted"}), body
        assert received.calls_received("SetChargingProfile") == [CP_MAX]
        held = await stored_profiles(http, api, "SC-1")
        assert held[1]["purpose"] == "ChargePointMaxProfile" and held[1]["profile"] == CP_MAX["csChargingProfiles"]

        transaction_id = await station.start_session(1, "SMART-1", authorize=False)
        status, body = await call(http, "POST", f"{base}/stations/SC-1/commands/SetChargingProfile", headers,
                                  tx_profile())
        assert (status, body["result"]) == (200, {"status": "Accepted"}), body
        held = await stored_profiles(http, api, "SC-1")
        assert held[2]["transaction_id"] == transaction_id and held[2]["stack_level"] == 1

        # the station's composite: min(ChargePointMax 7 kW, TxProfile 5 kW then 9 kW)
        status, body = await call(http, "GET", f"{base}/stations/SC-1/composite-schedule"
                                               "?connectorId=1&duration=1200&chargingRateUnit=W", headers)
        assert status == 200, body
        assert received.calls_received("GetCompositeSchedule") == [
            {"connectorId": 1, "duration": 1200, "chargingRateUnit": "W"}]
        schedule = body["result"]["chargingSchedule"]
        assert body["result"]["status"] == "Accepted" and schedule["duration"] == 1200
        # (the Relative TxProfile counts from the start of the session, a few seconds ago)
        five_kw, seven_kw = schedule["chargingSchedulePeriod"]
        assert five_kw == {"startPeriod": 0, "limit": 5000}
        assert 580 <= seven_kw["startPeriod"] <= 600 and seven_kw["limit"] == 7000
        status, body = await call(http, "GET", f"{base}/stations/SC-1/composite-schedule?connectorId=1&duration=60"
                                               "&chargingRateUnit=A", headers)
        assert body["result"]["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 7.2}]

        # the EV would take 11 kW: the station gives 5 kW, and its meter values say so
        await wait_for(drawing(station, 5000), within_s=5)

        async def limited_power_sampled() -> bool:
            return bool(await platform.db.fetchval(
                "SELECT count(*) FROM telemetry_data WHERE station_id = 'SC-1' AND session_id = $1"
                " AND measurand = 'Power.Active.Import' AND value = 5000", transaction_id))

        await wait_for(limited_power_sampled, within_s=15)

        # cleared by id: the station gives the ChargePointMax's 7 kW
        status, body = await call(http, "DELETE", f"{base}/stations/SC-1/charging-profiles/2", headers)
        assert (status, body["result"]) == (200, {"status": "Accepted"}), body
        assert received.calls_received("ClearChargingProfile") == [{"id": 2}]
        assert set(await stored_profiles(http, api, "SC-1")) == {1}
        await wait_for(drawing(station, 7000), within_s=5)

        # a TxProfile goes with its transaction
        status, body = await call(http, "POST", f"{base}/stations/SC-1/charging-profiles", headers,
                                  tx_profile(transaction_id))
        assert body["result"] == {"status": "Accepted"}
        await station.stop_session(1)

        async def tx_profile_dropped() -> bool:
            return set(await stored_profiles(http, api, "SC-1")) == {1}

        await wait_for(tx_profile_dropped, within_s=10)

        # cleared by filters
        status, body = await call(http, "DELETE", f"{base}/stations/SC-1/charging-profiles?connectorId=0"
                                                  "&chargingProfilePurpose=ChargePointMaxProfile", headers)
        assert (status, body["result"]) == (200, {"status": "Accepted"}), body
        assert received.calls_received("ClearChargingProfile")[-1] == {"connectorId": 0,
                                                           "chargingProfilePurpose": "ChargePointMaxProfile"}
        assert await stored_profiles(http, api, "SC-1") == {}
        assert station.charging_profiles.installed == {}


def _with(profile: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**profile, "csChargingProfiles": {**profile["csChargingProfiles"], **changes}}


def _schedule(*periods: tuple[int, float]) -> dict[str, Any]:
    return {"startSchedule": "2026-01-01T00:00:00Z", "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": s, "limit": limit} for s, limit in periods]}


INVALID: dict[str, tuple[dict[str, Any], str, str]] = {
    "a ChargePointMaxProfile on a connector": ({**CP_MAX, "connectorId": 1}, "connectorId", "connectorId must be 0"),
    "a TxProfile without a transaction": (tx_profile(), "connectorId", "connector 1 has none"),
    "periods not starting at 0": (_with(CP_MAX, chargingSchedule=_schedule((60, 7000))),
                                  "csChargingProfiles/chargingSchedule/chargingSchedulePeriod/0/startPeriod", "at 0"),
    "periods out of order": (_with(CP_MAX, chargingSchedule=_schedule((0, 7000), (600, 5000), (300, 3000))),
                             "csChargingProfiles/chargingSchedule/chargingSchedulePeriod/2/startPeriod", "ascending"),
    "a Recurring profile without recurrencyKind": (_with(CP_MAX, chargingProfileKind="Recurring"),
                                                   "csChargingProfiles/recurrencyKind", "needs a recurrencyKind"),
    "a Daily profile longer than a day": (
        _with(CP_MAX, chargingProfileKind="Recurring", recurrencyKind="Daily",
              chargingSchedule={**_schedule((0, 7000)), "duration": 90_000}),
        "csChargingProfiles/chargingSchedule/duration", "at most 86400 s"),
    "validTo before validFrom": (_with(CP_MAX, validFrom=in_seconds(3600), validTo=in_seconds(60)),
                                 "csChargingProfiles/validTo", "after its validFrom"),
    "kilowatts, a unit OCPP 1.6 does not have": (
        _with(CP_MAX, chargingSchedule={**_schedule((0, 7)), "chargingRateUnit": "kW"}),
        "csChargingProfiles/chargingSchedule/chargingRateUnit", "kW"),
}


@pytest.mark.parametrize("case", INVALID)
async def test_an_invalid_profile_is_a_422_naming_the_problem_and_nothing_is_sent(
    platform, api: Api, http, case: str,
) -> None:
    base, headers = api.base, api.headers
    payload, path, explanation = INVALID[case]
    async with emulated(platform, "SC-2") as (_, received):
        status, body = await call(http, "POST", f"{base}/stations/SC-2/charging-profiles", headers, payload)
        assert status == 422, body
        assert body["error"]["details"]["path"] == path
        assert explanation in body["error"]["message"]
        # the call that follows reaches the station first: the refused one was never sent
        await call(http, "POST", f"{base}/stations/SC-2/commands/TriggerMessage", headers,
                   {"requestedMessage": "Heartbeat"})
        actions = [frame[2] for frame in received.received if frame[0] == 2]
        assert "TriggerMessage" in actions and "SetChargingProfile" not in actions
    assert await stored_profiles(http, api, "SC-2") == {}


async def site_shares(http: aiohttp.ClientSession, api: Api, site_id: str) -> dict[tuple[str, int], float | None]:
    base, headers = api.base, api.headers
    status, body = await call(http, "GET", f"{base}/charging-sites/{site_id}", headers)
    assert status == 200, body
    return {(s["station_id"], s["transaction_id"]): s["limit_w"] for s in body["sessions"]}


def shares_become(http: aiohttp.ClientSession, api: Api, expected: dict[tuple[str, int], float]) -> Callable[..., Any]:
    async def site_divided() -> bool:
        return await site_shares(http, api, "DEPOT") == expected

    return site_divided


async def test_a_site_limit_is_divided_again_as_sessions_start_and_stop(platform, api: Api, http) -> None:
    base, headers = api.base, api.headers
    async with emulated(platform, "SITE-A") as (a, received_a), emulated(platform, "SITE-B") as (b, received_b):
        status, body = await call(http, "PUT", f"{base}/charging-sites/DEPOT", headers,
                                  {"max_power_w": 12000, "station_ids": ["SITE-A", "SITE-B"]})
        assert status == 201, body
        assert body["station_ids"] == ["SITE-A", "SITE-B"] and body["sessions"] == []

        first = await a.start_session(1, "FIRST", authorize=False)
        await wait_for(shares_become(http, api, {("SITE-A", first): 12000}), within_s=15)
        [share] = received_a.calls_received("SetChargingProfile")
        assert share["connectorId"] == 1
        assert share["csChargingProfiles"]["chargingProfilePurpose"] == "TxProfile"
        assert share["csChargingProfiles"]["transactionId"] == first
        assert share["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"] == [
            {"startPeriod": 0, "limit": 12000}]
        await wait_for(drawing(a, 11000), within_s=5)  # the EV takes what it can: 11 kW

        # a second session: each gets half
        second = await b.start_session(1, "SECOND", authorize=False)
        await wait_for(shares_become(http, api, {("SITE-A", first): 6000, ("SITE-B", second): 6000}), within_s=15)
        assert [p["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]
                for p in received_a.calls_received("SetChargingProfile")] == [12000, 6000]
        assert received_b.calls_received("SetChargingProfile")[-1]["csChargingProfiles"]["transactionId"] == second
        await wait_for(drawing(a, 6000), within_s=5)
        await wait_for(drawing(b, 6000), within_s=5)

        # the first stops: the second gets it all
        await a.stop_session(1)
        await wait_for(shares_become(http, api, {("SITE-B", second): 12000}), within_s=15)
        await wait_for(drawing(b, 11000), within_s=5)
        assert len(received_a.calls_received("SetChargingProfile")) == 2  # nothing more for a station without a session
        held = await stored_profiles(http, api, "SITE-A")
        assert held == {}, "the ended session's share went with it"

        # B leaves the site: its share is cleared
        status, body = await call(http, "PUT", f"{base}/charging-sites/DEPOT", headers,
                                  {"max_power_w": 12000, "station_ids": ["SITE-A"]})
        assert status == 200 and body["station_ids"] == ["SITE-A"]

        async def share_cleared() -> bool:
            return await stored_profiles(http, api, "SITE-B") == {}

        await wait_for(share_cleared, within_s=10)
        assert received_b.calls_received("ClearChargingProfile") == [{"id": 910_001}]


async def test_a_share_the_station_refuses_is_sent_again(platform, api: Api, http) -> None:
    """The re-division survives a refusal (and logs it): it is tried again until accepted."""
    base, headers = api.base, api.headers
    async with charging_raw_station(platform, http, "SITE-RAW") as (ws, _, transaction_id):
        await call(http, "PUT", f"{base}/charging-sites/RAW", headers, {"max_power_w": 4000,
                                                                       "station_ids": ["SITE-RAW"]})
        for status in ("Rejected", "Accepted"):
            request = await ws.receive_json(timeout=10)
            assert request[2] == "SetChargingProfile" and request[3]["csChargingProfiles"]["transactionId"] == (
                transaction_id)
            await ws.send_json([3, request[1], {"status": status}])

        async def accepted_share_shown() -> bool:
            return await site_shares(http, api, "RAW") == {("SITE-RAW", transaction_id): 4000}

        await wait_for(accepted_share_shown, within_s=10)


async def test_sites_are_checked(platform, api: Api, http) -> None:
    base, headers = api.base, api.headers
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ('SITE-X')")
    status, body = await call(http, "PUT", f"{base}/charging-sites/ONE", headers,
                              {"max_power_w": 1000, "station_ids": ["SITE-X", "NOPE"]})
    assert (status, body["error"]["details"]) == (422, {"stations": ["NOPE"]})
    assert (await call(http, "PUT", f"{base}/charging-sites/ONE", headers,
                       {"max_power_w": 1000, "station_ids": ["SITE-X"]}))[0] == 201
    status, body = await call(http, "PUT", f"{base}/charging-sites/TWO", headers,
                              {"max_power_w": 1000, "station_ids": ["SITE-X"]})
    assert (status, body["error"]["details"]) == (409, {"SITE-X": "ONE"})
    assert (await call(http, "GET", f"{base}/charging-sites", headers))[1]["items"][0]["id"] == "ONE"
    assert (await call(http, "DELETE", f"{base}/charging-sites/ONE", headers))[0] == 204
    assert (await call(http, "GET", f"{base}/charging-sites/ONE", headers))[0] == 404


async def test_a_tx_profile_goes_when_a_reboot_ends_its_transaction(platform, api: Api, http) -> None:
    base, headers = api.base, api.headers
    async with charging_raw_station(platform, http, "SC-BOOT") as (ws, station, transaction_id):
        sending = asyncio.create_task(call(http, "POST", f"{base}/stations/SC-BOOT/charging-profiles", headers,
                                           tx_profile()))
        request = await ws.receive_json(timeout=10)
        assert request[3]["csChargingProfiles"]["chargingProfilePurpose"] == "TxProfile"
        await ws.send_json([3, request[1], {"status": "Accepted"}])
        assert (await sending)[1]["result"] == {"status": "Accepted"}
        assert (await stored_profiles(http, api, "SC-BOOT"))[2]["transaction_id"] == transaction_id

        # the station reboots: its transaction is over, and the TxProfile with it
        await station.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})

        async def tx_profile_dropped() -> bool:
            return await stored_profiles(http, api, "SC-BOOT") == {}

        await wait_for(tx_profile_dropped, within_s=10)
