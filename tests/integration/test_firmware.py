"""Firmware updates through the public API: UpdateFirmware to one station, firmware campaigns
(UpdateFirmware and SignedUpdateFirmware) to many, online or offline. The emulator really
downloads the image from a file server, reports every step, reboots, and boots with the new
version."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chargeplane.emulator.protocol import format_timestamp
from support.public_api import PublicApi, emulated_station, file_server, operator_api, stored_reply
from support.waiting import wait_for

IMAGES = {"v2.bin": b"CHARGEPLANE-FIRMWARE 2.0.0\n" + bytes(range(256)) * 64, "junk.bin": b"not firmware"}
WALK = ["Downloading", "Downloaded", "Installing", "Installed"]


@pytest.fixture
async def api(platform, http) -> PublicApi:
    return await operator_api(platform, http)


@pytest.fixture
async def images():
    async with file_server(IMAGES) as served:
        yield served


async def firmware_statuses(api: PublicApi, station_id: str, notification: str = "FirmwareStatusNotification",
                            ) -> list[str]:
    _, maintenance = await api.get(f"/stations/{station_id}/maintenance")
    return [h["status"] for h in reversed(maintenance["history"]) if h["notification"] == notification]


async def booted_with(api: PublicApi, station_id: str, version: str) -> bool:
    _, station = await api.get(f"/stations/{station_id}")
    return station["firmware_version"] == version and station["connected"]


async def campaign_statuses(api: PublicApi, campaign_id: int) -> dict[str, str]:
    status, campaign = await api.get(f"/firmware-campaigns/{campaign_id}")
    assert status == 200, campaign
    return {s["station_id"]: s["status"] for s in campaign["stations"]}


async def test_update_firmware_of_one_station(platform, api: PublicApi, images) -> None:
    base, requested = images
    async with emulated_station(platform, "FW-1", firmware_version="1.0.0") as (station, frames):
        payload = {"location": f"{base}/v2.bin", "retrieveDate": format_timestamp(datetime.now(UTC))}
        status, body = await api.command("FW-1", "UpdateFirmware", payload)
        assert (status, body["result"]) == (200, {})
        assert frames.calls_received("UpdateFirmware") == [payload]

        async def empty_reply_stored() -> bool:  # UpdateFirmware.conf is empty
            return await stored_reply(platform.db, "FW-1", "UpdateFirmware") == {}

        await wait_for(empty_reply_stored)
        await wait_for(lambda: booted_with(api, "FW-1", "2.0.0"))  # rebooted, new version in BootNotification
        assert station.firmware.version == "2.0.0"
        assert frames.calls_sent("BootNotification")[-1]["firmwareVersion"] == "2.0.0"
    assert requested == ["/v2.bin"]  # really downloaded
    assert await firmware_statuses(api, "FW-1") == WALK
    _, maintenance = await api.get("/stations/FW-1/maintenance")
    assert (maintenance["firmware_version"], maintenance["latest"]["FirmwareStatusNotification"]["status"]) == (
        "2.0.0", "Installed")


async def test_a_campaign_reaches_online_stations_now_and_offline_ones_when_they_boot(
    platform, api: PublicApi, images
) -> None:
    base, requested = images
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ('FW-A'), ('FW-B')")
    async with emulated_station(platform, "FW-A", register=False, firmware_version="1.0.0") as (_, frames_a):
        status, campaign = await api.post("/firmware-campaigns", {
            "name": "2.0.0 rollout", "location": f"{base}/v2.bin", "station_ids": ["FW-A", "FW-B"], "retries": 2,
            "retry_interval": 1})
        assert status == 201, campaign
        assert {s["station_id"]: s["status"] for s in campaign["stations"]} == {"FW-A": "Pending", "FW-B": "Pending"}
        await wait_for(lambda: booted_with(api, "FW-A", "2.0.0"))
        (sent,) = frames_a.calls_received("UpdateFirmware")
        assert sent == {"location": f"{base}/v2.bin", "retrieveDate": sent["retrieveDate"], "retries": 2,
                        "retryInterval": 1}
        assert await campaign_statuses(api, campaign["id"]) == {"FW-A": "Installed", "FW-B": "Pending"}
    async with emulated_station(platform, "FW-B", register=False, firmware_version="1.0.0") as (_, frames_b):
        await wait_for(lambda: booted_with(api, "FW-B", "2.0.0"))
        assert len(frames_b.calls_received("UpdateFirmware")) == 1
    assert requested == ["/v2.bin", "/v2.bin"]
    status, campaign = await api.get(f"/firmware-campaigns/{campaign['id']}")
    assert [(s["station_id"], s["status"], s["firmware_version"], s["reply"]) for s in campaign["stations"]] == [
        ("FW-A", "Installed", "2.0.0", {}), ("FW-B", "Installed", "2.0.0", {})]
    assert await firmware_statuses(api, "FW-B") == WALK
    _, campaigns = await api.get("/firmware-campaigns")
    assert [(c["id"], c["name"], c["statuses"]) for c in campaigns["items"]] == [
        (campaign["id"], "2.0.0 rollout", {"Installed": 2})]


async def test_failed_updates_and_one_campaign_at_a_time(platform, api: PublicApi, images) -> None:
    base, _ = images
    async with emulated_station(platform, "FW-2", firmware_version="1.0.0") as (station, _):
        ids = []
        for image in ("missing.bin", "junk.bin"):
            status, campaign = await api.post("/firmware-campaigns", {
                "location": f"{base}/{image}", "station_ids": ["FW-2"], "retries": 0})
            assert status == 201
            ids.append(campaign["id"])

        async def settled(campaign_id: int, status: str) -> bool:
            return (await campaign_statuses(api, campaign_id))["FW-2"] == status

        await wait_for(lambda: settled(ids[0], "DownloadFailed"))
        await wait_for(lambda: settled(ids[1], "InstallationFailed"))
        assert station.firmware.version == "1.0.0"
    # the second campaign waited until the station was done with the first
    assert await firmware_statuses(api, "FW-2") == [
        "Downloading", "DownloadFailed", "Downloading", "Downloaded", "Installing", "InstallationFailed"]


async def test_a_signed_campaign(platform, api: PublicApi, images) -> None:
    base, requested = images
    async with emulated_station(platform, "FW-S", firmware_version="1.0.0") as (_, frames):
        status, campaign = await api.post("/firmware-campaigns", {
            "location": f"{base}/v2.bin", "station_ids": ["FW-S"], "signing_certificate": "-----BEGIN CERT...",
            "signature": "c2lnbmF0dXJl", "install_date": "2026-01-01T00:00:00Z"})
        assert status == 201, campaign
        assert campaign["signed"] is True
        await wait_for(lambda: booted_with(api, "FW-S", "2.0.0"))
        (sent,) = frames.calls_received("SignedUpdateFirmware")
        assert sent["requestId"] == campaign["id"]
        assert sent["firmware"] == {
            "location": f"{base}/v2.bin", "retrieveDateTime": sent["firmware"]["retrieveDateTime"],
            "installDateTime": "2026-01-01T00:00:00.000Z", "signingCertificate": "-----BEGIN CERT...",
            "signature": "c2lnbmF0dXJl"}
        # a signed update without a certificate is refused by the station
        status, body = await api.command("FW-S", "SignedUpdateFirmware", {"requestId": 99, "firmware": {
            "location": f"{base}/v2.bin", "retrieveDateTime": "2026-01-01T00:00:00Z", "signingCertificate": "",
            "signature": "x"}})
        assert (status, body["result"]) == (200, {"status": "InvalidCertificate"})
    assert requested == ["/v2.bin"]
    assert (await campaign_statuses(api, campaign["id"]))["FW-S"] == "Installed"
    _, maintenance = await api.get("/stations/FW-S/maintenance")
    signed = [(h["status"], h["request_id"]) for h in reversed(maintenance["history"])
              if h["notification"] == "SignedFirmwareStatusNotification"]
    assert signed == [(s, campaign["id"]) for s in
                      ("Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed")]


async def test_a_campaign_is_checked_before_anything_is_sent(platform, api: PublicApi) -> None:
    await platform.db.execute("INSERT INTO charging_stations (id) VALUES ('FW-X')")
    for body, code in [
        ({"location": "http://x/fw.bin", "station_ids": ["FW-X", "NOBODY"]}, "unknown_stations"),
        ({"location": "not a url", "station_ids": ["FW-X"]}, "invalid_request"),
        ({"location": "http://x/fw.bin", "station_ids": ["FW-X"], "signature": "only half"}, "invalid_request"),
        ({"location": "http://x/fw.bin", "station_ids": []}, "invalid_request"),
    ]:
        status, answer = await api.post("/firmware-campaigns", body)
        assert (status, answer["error"]["code"]) == (422, code), body
    assert await platform.db.fetchval("SELECT count(*) FROM firmware_campaigns") == 0
    assert (await api.get("/firmware-campaigns/12345"))[0] == 404
