"""What the console reads through the public API: stations filtered and counted, a station's
frames, and the live stream of station status (server-sent events)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson
import pytest

from support.public_api import PublicApi, operator_api
from support.station import RawStation, now_z

from .conftest import Platform


@pytest.fixture
async def api(platform: Platform, http: aiohttp.ClientSession) -> PublicApi:
    return await operator_api(platform, http)


@asynccontextmanager
async def station(platform: Platform, station_id: str, vendor: str = "Vendor") -> AsyncIterator[RawStation]:
    """A registered station, connected and booted."""
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ($1) ON CONFLICT DO NOTHING", station_id)
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{platform.ocpp_url}/{station_id}",
                                                                     protocols=["ocpp1.6"]) as ws:
        raw = RawStation(ws, answers={"GetConfiguration": {"configurationKey": []}})
        await raw.call("BootNotification", {"chargePointVendor": vendor, "chargePointModel": "M"})
        yield raw


async def status(raw: RawStation, connector_id: int, state: str) -> None:
    await raw.call("StatusNotification", {"connectorId": connector_id, "status": state, "errorCode": "NoError",
                                          "timestamp": now_z()})


async def test_stations_are_filtered_searched_and_counted(platform: Platform, api: PublicApi) -> None:
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ('DEPOT-9'), ('depot_1'), ('CITY-1')")
    async with station(platform, "DEPOT-2", vendor="Alfen") as raw:
        await status(raw, 1, "Charging")
        await status(raw, 2, "Available")
        _, page = await api.get("/stations", status="Online")
        assert [s["id"] for s in page["items"]] == ["DEPOT-2"]
        assert [(c["connector_id"], c["status"]) for c in page["items"][0]["connectors"]] == [
            (1, "Charging"), (2, "Available")]
        _, page = await api.get("/stations", status="Charging")
        assert [s["id"] for s in page["items"]] == ["DEPOT-2"]
        _, page = await api.get("/stations", status="Offline", limit=1)
        assert (page["total"], [s["id"] for s in page["items"]]) == (3, ["CITY-1"])
        _, page = await api.get("/stations", q="depot")
        assert [s["id"] for s in page["items"]] == ["DEPOT-2", "DEPOT-9", "depot_1"]
        _, page = await api.get("/stations", q="t_")  # `_` is no wildcard
        assert [s["id"] for s in page["items"]] == ["depot_1"]
        _, page = await api.get("/stations", vendor="Alfen")
        assert [s["id"] for s in page["items"]] == ["DEPOT-2"]
        _, counts = await api.get("/station-counts")
        assert (counts["stations"], counts["online"], counts["offline"]) == (4, 1, 3)
        assert counts["connector_statuses"]["Charging"] == 1
        assert counts["vendors"] == ["Alfen"]
        _, page = await api.get("/stations", changed_since=page["as_of"])
        assert page["items"] == []
        await status(raw, 1, "Finishing")
        _, changed = await api.get("/stations", changed_since=page["as_of"])
        assert [s["id"] for s in changed["items"]] == ["DEPOT-2"]
    status_code, body = await api.get("/stations", status="Sleeping")
    assert (status_code, body["error"]["code"]) == (422, "invalid_request")


async def test_a_stations_frames_newest_first_replies_named(platform: Platform, api: PublicApi) -> None:
    async with station(platform, "FRAMES-1") as raw:
        await raw.call("Heartbeat", {})
    await asyncio.sleep(0.2)  # the frame log is written in batches
    _, page = await api.get("/stations/FRAMES-1/frames", limit=6)
    frames = page["items"]
    named = [(f["direction"], f["message_type"], f["action"]) for f in frames]
    # the station's call and the gateway's reply; the station's reply to the gateway's own call
    assert {("in", 2, "Heartbeat"), ("out", 3, "Heartbeat"), ("in", 3, "GetConfiguration")} <= set(named)
    assert named.index(("out", 3, "Heartbeat")) < named.index(("in", 2, "Heartbeat"))  # newest first
    assert orjson.loads(frames[named.index(("in", 2, "Heartbeat"))]["frame"])[2] == "Heartbeat"
    _, older = await api.get("/stations/FRAMES-1/frames", limit=4, offset=1)
    assert older["items"][0]["id"] == frames[1]["id"]


async def events(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, Any]]:
    """The (event, data) of a server-sent event stream."""
    name = None
    async for line in response.content:
        text = line.decode().rstrip("\n")
        if text.startswith("event: "):
            name = text.removeprefix("event: ")
        elif text.startswith("data: "):
            yield name, orjson.loads(text.removeprefix("data: "))


async def test_station_status_streams_live(platform: Platform, api: PublicApi) -> None:
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ('LIVE-1'), ('OTHER-1')")
    async with api.http.get(api.base + "/station-updates", params={"station_id": "LIVE-1"},
                            headers=api.headers) as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        stream = events(response)
        await asyncio.sleep(1.2)  # the feed has read once: what follows is news
        async with station(platform, "OTHER-1"), station(platform, "LIVE-1") as raw:
            await status(raw, 1, "Charging")
            seen: list[tuple[bool, list[str]]] = []
            async with asyncio.timeout(10):
                async for name, data in stream:
                    if name == "station":
                        assert data["id"] == "LIVE-1"  # only the station asked for
                        seen.append((data["connected"], [c["status"] for c in data["connectors"]]))
                        if seen[-1] == (True, ["Charging"]):
                            break
            counts = None
            async with asyncio.timeout(15):
                async for name, data in stream:
                    if name == "counts" and data["connector_statuses"]["Charging"] == 1:
                        counts = data
                        break
            assert counts is not None and counts["online"] == 2
