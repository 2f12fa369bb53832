"""SendLocalList and GetLocalListVersion through the public API against the emulator: the list
the station received (full, then what changed in the id tags as a differential), the version
stored per station, the station using its list, and VersionMismatch, Failed, NotSupported."""

from __future__ import annotations

from typing import Any

import pytest

from chargeplane.emulator.configuration import SUPPORTED_FEATURE_PROFILES
from support.public_api import PublicApi, emulated_station, operator_api

STATION = "LL-1"


@pytest.fixture
async def api(platform, http) -> PublicApi:
    return await operator_api(platform, http)


async def put_tag(api: PublicApi, id_tag: str, status: str) -> None:
    async with api.http.put(f"{api.base}/id-tags/{id_tag}", headers=api.headers, json={"status": status}) as response:
        assert response.status == 200


async def push(api: PublicApi, update_type: str, station_id: str | None = STATION) -> Any:
    path = f"/stations/{station_id}/local-list" if station_id else "/local-list/push"
    status, body = await api.post(path, {"update_type": update_type}, timeout=10)
    assert status == 200, body
    return body


async def held(api: PublicApi) -> dict[str, Any]:
    status, body = await api.get(f"/stations/{STATION}/local-list")
    assert status == 200, body
    return dict(body)


async def command(api: PublicApi, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    status, body = await api.command(STATION, action, payload)
    assert status == 200, body
    return dict(body["result"])


async def test_a_full_list_then_an_id_tag_change_as_a_differential(platform, api) -> None:
    await put_tag(api, "CARD-A", "Accepted")
    await put_tag(api, "CARD-B", "Blocked")
    async with emulated_station(platform, STATION) as (station, frames):
        assert (await held(api))["list_version"] is None  # nothing known yet
        full = await push(api, "Full")
        assert (full["update_type"], full["status"], full["entries"]) == ("Full", "Accepted", 2)
        [sent] = frames.calls_received("SendLocalList")
        assert (sent["updateType"], sent["listVersion"]) == ("Full", full["list_version"])
        assert sent["localAuthorizationList"] == [{"idTag": "CARD-A", "idTagInfo": {"status": "Accepted"}},
                                                  {"idTag": "CARD-B", "idTagInfo": {"status": "Blocked"}}]
        assert (station.local_list.version, set(station.local_list.entries)) == (full["list_version"],
                                                                                  {"CARD-A", "CARD-B"})
        state = await held(api)
        assert (state["list_version"], state["current_version"], state["last_update_status"]) == (
            full["list_version"], full["list_version"], "Accepted")
        assert await command(api, "GetLocalListVersion", {}) == {"listVersion": full["list_version"]}

        # an id-tag change, pushed to every online station as what changed since its version
        await put_tag(api, "CARD-C", "Accepted")
        assert (await api.delete("/id-tags/CARD-B"))[0] == 204
        [item] = (await push(api, "Differential", station_id=None))["items"]
        assert (item["station_id"], item["update_type"], item["status"], item["entries"]) == (
            STATION, "Differential", "Accepted", 2)
        differential = frames.calls_received("SendLocalList")[-1]
        assert differential["updateType"] == "Differential"
        assert differential["listVersion"] == item["list_version"] > full["list_version"]
        assert sorted(differential["localAuthorizationList"], key=lambda e: e["idTag"]) == [
            {"idTag": "CARD-B"}, {"idTag": "CARD-C", "idTagInfo": {"status": "Accepted"}}]
        assert set(station.local_list.entries) == {"CARD-A", "CARD-C"}
        assert station.local_list.version == item["list_version"]
        state = await held(api)
        assert (state["list_version"], state["last_update_type"]) == (item["list_version"], "Differential")

        # up to date: nothing is sent
        again = await push(api, "Differential")
        assert again["status"] == "UpToDate"
        assert len(frames.calls_received("SendLocalList")) == 2


async def test_the_station_starts_a_session_on_its_local_list(platform, api) -> None:
    await put_tag(api, "LOCAL-1", "Accepted")
    async with emulated_station(platform, STATION) as (station, frames):
        await push(api, "Full")
        assert await command(api, "ChangeConfiguration", {"key": "LocalPreAuthorize", "value": "true"}) == {
            "status": "Accepted"}
        await station.start_session(1, "LOCAL-1")
        assert frames.calls_sent("Authorize") == []  # the list said Accepted: no need to ask
        await station.stop_session(1)
        await station.start_session(1, "NOT-LISTED")
        assert [a["idTag"] for a in frames.calls_sent("Authorize")] == ["NOT-LISTED"]
        await station.stop_session(1)


async def test_version_mismatch_failed_and_not_supported(platform, api) -> None:
    await put_tag(api, "CARD-A", "Accepted")
    async with emulated_station(platform, STATION) as (station, frames):
        first = await push(api, "Full")
        await put_tag(api, "CARD-D", "Accepted")
        station.local_list.version = 10**6  # the station's list moved on without us (another CSMS, say)
        result = await push(api, "Differential")
        # the station refused the differential; the gateway sent the whole list instead
        assert [s["updateType"] for s in frames.calls_received("SendLocalList")] == ["Full", "Differential", "Full"]
        assert (result["update_type"], result["status"]) == ("Full", "Accepted")
        assert result["list_version"] > first["list_version"]
        assert station.local_list.version == result["list_version"]
        assert set(station.local_list.entries) == {"CARD-A", "CARD-D"}

        # a list the station cannot take (the same tag twice): Failed, and it keeps what it had
        duplicated = {"listVersion": result["list_version"] + 1, "updateType": "Differential",
                      "localAuthorizationList": [{"idTag": "X"}, {"idTag": "X"}]}
        assert await command(api, "SendLocalList", duplicated) == {"status": "Failed"}
        state = await held(api)
        assert (state["list_version"], state["last_update_status"]) == (result["list_version"], "Failed")

        station.configuration.set(SUPPORTED_FEATURE_PROFILES, "Core")  # a station without the profile
        assert (await push(api, "Full"))["status"] == "NotSupported"
        assert await command(api, "GetLocalListVersion", {}) == {"listVersion": -1}
        assert (await held(api))["list_version"] == -1


async def test_push_to_all_reports_each_station(platform, api) -> None:
    await put_tag(api, "CARD-A", "Accepted")
    async with emulated_station(platform, STATION) as (_, first), emulated_station(platform, "LL-2") as (_, second):
        items = (await push(api, "Full", station_id=None))["items"]
        assert [(i["station_id"], i["status"]) for i in items] == [(STATION, "Accepted"), ("LL-2", "Accepted")]
        assert len(first.calls_received("SendLocalList")) == len(second.calls_received("SendLocalList")) == 1
    assert (await push(api, "Differential"))["status"] == "UpToDate"  # as far as we know, offline or not
    status, body = await api.post(f"/stations/{STATION}/local-list", {"update_type": "Full"})
    assert (status, body["error"]["code"]) == (409, "station_offline")
