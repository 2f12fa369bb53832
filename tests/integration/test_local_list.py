"""SendLocalList and GetLocalListVersion through the public API against the emulator: the list
the station received (full, then what changed in the id tags as a differential), the version
stored per station, the station using its list, and VersionMismatch, Failed, NotSupported."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from chargeplane.emulator.configuration import SUPPORTED_FEATURE_PROFILES
from support.emulated import online_station

STATION = "LL-1"


@pytest.fixture
async def registered(platform) -> None:
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ($1)", STATION)


async def put_tag(http: aiohttp.ClientSession, api: Any, id_tag: str, status: str) -> None:
    base, _, operator = api
    async with http.put(f"{base}/id-tags/{id_tag}", headers=operator, json={"status": status}) as response:
        assert response.status == 200


async def push(http: aiohttp.ClientSession, api: Any, update_type: str, station_id: str | None = STATION) -> Any:
    base, _, operator = api
    url = f"{base}/stations/{station_id}/local-list" if station_id else f"{base}/local-list/push"
    async with http.post(url, headers=operator, json={"update_type": update_type}) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def held(http: aiohttp.ClientSession, api: Any) -> dict[str, Any]:
    base, reader, _ = api
    async with http.get(f"{base}/stations/{STATION}/local-list", headers=reader) as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


async def command(http: aiohttp.ClientSession, api: Any, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    base, _, operator = api
    async with http.post(f"{base}/stations/{STATION}/commands/{action}", headers=operator,
                         json=payload) as response:
        assert response.status == 200, await response.text()
        result: dict[str, Any] = (await response.json())["result"]
        return result


async def test_a_full_list_then_an_id_tag_change_as_a_differential(platform, registered, api, http) -> None:
    await put_tag(http, api, "CARD-A", "Accepted")
    await put_tag(http, api, "CARD-B", "Blocked")
    async with online_station(platform.ocpp_url, STATION) as (station, frames):
        assert (await held(http, api))["list_version"] is None  # nothing known yet
        full = await push(http, api, "Full")
        assert (full["update_type"], full["status"], full["entries"]) == ("Full", "Accepted", 2)
        [sent] = frames.calls_received("SendLocalList")
        assert (sent["updateType"], sent["listVersion"]) == ("Full", full["list_version"])
        assert sent["localAuthorizationList"] == [{"idTag": "CARD-A", "idTagInfo": {"status": "Accepted"}},
                                                  {"idTag": "CARD-B", "idTagInfo": {"status": "Blocked"}}]
        assert (station.local_list.version, set(station.local_list.entries)) == (full["list_version"],
                                                                                  {"CARD-A", "CARD-B"})
        state = await held(http, api)
        assert (state["list_version"], state["current_version"], state["last_update_status"]) == (
            full["list_version"], full["list_version"], "Accepted")
        assert await command(http, api, "GetLocalListVersion", {}) == {"listVersion": full["list_version"]}

        # an id-tag change, pushed to every online station as what changed since its version
        await put_tag(http, api, "CARD-C", "Accepted")
        base, _, operator = api
        async with http.delete(f"{base}/id-tags/CARD-B", headers=operator) as response:
            assert response.status == 204
        [item] = (await push(http, api, "Differential", station_id=None))["items"]
        assert (item["station_id"], item["update_type"], item["status"], item["entries"]) == (
            STATION, "Differential", "Accepted", 2)
        differential = frames.calls_received("SendLocalList")[-1]
        assert differential["updateType"] == "Differential"
        assert differential["listVersion"] == item["list_version"] > full["list_version"]
        assert sorted(differential["localAuthorizationList"], key=lambda e: e["idTag"]) == [
            {"idTag": "CARD-B"}, {"idTag": "CARD-C", "idTagInfo": {"status": "Accepted"}}]
        assert set(station.local_list.entries) == {"CARD-A", "CARD-C"}
        assert station.local_list.version == item["list_version"]
        state = await held(http, api)
        assert (state["list_version"], state["last_update_type"]) == (item["list_version"], "Differential")

        # up to date: nothing is sent
        again = await push(http, api, "Differential")
        assert again["status"] == "UpToDate"
        assert len(frames.calls_received("SendLocalList")) == 2


async def test_the_station_starts_a_session_on_its_local_list(platform, registered, api, http) -> None:
    await put_tag(http, api, "LOCAL-1", "Accepted")
    async with online_station(platform.ocpp_url, STATION) as (station, frames):
        await push(http, api, "Full")
        assert await command(http, api, "ChangeConfiguration", {"key": "LocalPreAuthorize", "value": "true"}) == {
            "status": "Accepted"}
        await station.start_session(1, "LOCAL-1")
        assert frames.calls_sent("Authorize") == []  # the list said Accepted: no need to ask
        await station.stop_session(1)
        await station.start_session(1, "NOT-LISTED")
        assert [a["idTag"] for a in frames.calls_sent("Authorize")] == ["NOT-LISTED"]
        await station.stop_session(1)


async def test_version_mismatch_failed_and_not_supported(platform, registered, api, http) -> None:
    await put_tag(http, api, "CARD-A", "Accepted")
    async with online_station(platform.ocpp_url, STATION) as (station, frames):
        first = await push(http, api, "Full")
        await put_tag(http, api, "CARD-D", "Accepted")
        station.local_list.version = 10**6  # the station's list moved on without us (another CSMS, say)
        result = await push(http, api, "Differential")
        # the station refused the differential; the gateway sent the whole list instead
        assert [s["updateType"] for s in frames.calls_received("SendLocalList")] == ["Full", "Differential", "Full"]
        assert (result["update_type"], result["status"]) == ("Full", "Accepted")
        assert result["list_version"] > first["list_version"]
        assert station.local_list.version == result["list_version"]
        assert set(station.local_list.entries) == {"CARD-A", "CARD-D"}

        # a list the station cannot take (the same tag twice): Failed, and it keeps what it had
        duplicated = {"listVersion": result["list_version"] + 1, "updateType": "Differential",
                      "localAuthorizationList": [{"idTag": "X"}, {"idTag": "X"}]}
        assert await command(http, api, "SendLocalList", duplicated) == {"status": "Failed"}
        state = await held(http, api)
        assert (state["list_version"], state["last_update_status"]) == (result["list_version"], "Failed")

        station.configuration.set(SUPPORTED_FEATURE_PROFILES, "Core")  # a station without the profile
        assert (await push(http, api, "Full"))["status"] == "NotSupported"
        assert await command(http, api, "GetLocalListVersion", {}) == {"listVersion": -1}
        assert (await held(http, api))["list_version"] == -1


async def test_push_to_all_reports_each_station(platform, registered, api, http) -> None:
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ('LL-2')")
    await put_tag(http, api, "CARD-A", "Accepted")
    async with online_station(platform.ocpp_url, STATION) as (_, first), online_station(
            platform.ocpp_url, "LL-2") as (_, second):
        items = (await push(http, api, "Full", station_id=None))["items"]
        assert [(i["station_id"], i["status"]) for i in items] == [(STATION, "Accepted"), ("LL-2", "Accepted")]
        assert len(first.calls_received("SendLocalList")) == len(second.calls_received("SendLocalList")) == 1
    assert (await push(http, api, "Differential"))["status"] == "UpToDate"  # as far as we know, offline or not
    base, _, operator = api
    async with http.post(f"{base}/stations/{STATION}/local-list", headers=operator,
                         json={"update_type": "Full"}) as response:
        assert (response.status, (await response.json())["error"]["code"]) == (409, "station_offline")
