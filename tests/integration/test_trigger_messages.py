"""TriggerMessage (Remote Trigger) and ExtendedTriggerMessage (security extension) for every
message each allows, through the public API against the emulator: the station gets the
trigger, answers Accepted, and the message it was asked for reaches the platform."""

from __future__ import annotations

from collections.abc import Awaitable

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from support.public_api import PublicApi, emulated_station, operator_api, stored_calls, stored_reply
from support.waiting import wait_for

STATION = "TRIG-1"


@pytest.fixture
async def api(platform, http) -> PublicApi:
    return await operator_api(platform, http)


async def latest_status(api: PublicApi, notification: str) -> str | None:
    _, maintenance = await api.get(f"/stations/{STATION}/maintenance")
    latest = maintenance["latest"][notification]
    return latest["status"] if latest else None


async def _at_least(calls: Awaitable[list[dict]], count: int) -> bool:
    return len(await calls) >= count


@pytest.mark.parametrize(("command", "requested", "sent"), [
    ("TriggerMessage", "BootNotification", "BootNotification"),
    ("TriggerMessage", "Heartbeat", "Heartbeat"),
    ("TriggerMessage", "StatusNotification", "StatusNotification"),
    ("TriggerMessage", "MeterValues", "MeterValues"),
    ("TriggerMessage", "DiagnosticsStatusNotification", "DiagnosticsStatusNotification"),
    ("TriggerMessage", "FirmwareStatusNotification", "FirmwareStatusNotification"),
    ("ExtendedTriggerMessage", "BootNotification", "BootNotification"),
    ("ExtendedTriggerMessage", "Heartbeat", "Heartbeat"),
    ("ExtendedTriggerMessage", "StatusNotification", "StatusNotification"),
    ("ExtendedTriggerMessage", "MeterValues", "MeterValues"),
    ("ExtendedTriggerMessage", "LogStatusNotification", "LogStatusNotification"),
    ("ExtendedTriggerMessage", "FirmwareStatusNotification", "SignedFirmwareStatusNotification"),
    ("ExtendedTriggerMessage", "SignChargePointCertificate", "SignCertificate"),
])
async def test_every_triggerable_message_is_sent(platform, api: PublicApi, command: str, requested: str,
                                                 sent: str) -> None:
    async with emulated_station(platform, STATION, connectors=2) as (_, frames):
        # the boot's own StatusNotifications (station and both connectors) are counted before the trigger
        await wait_for(lambda: _at_least(stored_calls(platform.db, STATION, "StatusNotification"), 3))
        before = len(await stored_calls(platform.db, STATION, sent))
        status, body = await api.command(STATION, command, {"requestedMessage": requested})
        assert (status, body["result"]) == (200, {"status": "Accepted"})
        assert frames.calls_received(command) == [{"requestedMessage": requested}]
        assert await wait_for(lambda: stored_reply(platform.db, STATION, command)) == {"status": "Accepted"}

        expected = {"StatusNotification": 3, "MeterValues": 2}.get(sent, 1)  # the station and each connector

        async def triggered() -> list[dict]:
            calls = (await stored_calls(platform.db, STATION, sent))[before:]
            return calls if len(calls) >= expected else []

        arrived = await wait_for(triggered)
    if sent == "StatusNotification":
        assert sorted(c["connectorId"] for c in arrived) == [0, 1, 2]
    elif sent == "MeterValues":
        assert sorted(c["connectorId"] for c in arrived) == [1, 2]
        assert arrived[0]["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"
    elif sent in ("DiagnosticsStatusNotification", "FirmwareStatusNotification", "LogStatusNotification",
                  "SignedFirmwareStatusNotification"):
        assert arrived == [{"status": "Idle"}]  # nothing in progress
        assert await wait_for(lambda: latest_status(api, sent)) == "Idle"  # kept in the station's history
    elif sent == "SignCertificate":
        csr = x509.load_pem_x509_csr(arrived[0]["csr"].encode())
        assert csr.is_signature_valid
        assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == STATION
    elif sent == "Heartbeat":
        _, station = await api.get(f"/stations/{STATION}")
        assert station["last_heartbeat_at"] is not None
    else:
        assert sent == "BootNotification"
        _, station = await api.get(f"/stations/{STATION}")
        assert station["vendor"] == "ChargePlane"


@pytest.mark.parametrize("command", ["TriggerMessage", "ExtendedTriggerMessage"])
async def test_a_trigger_for_a_connector_the_station_lacks_is_rejected(platform, api: PublicApi, command) -> None:
    async with emulated_station(platform, STATION):
        status, body = await api.command(STATION, command, {"requestedMessage": "MeterValues", "connectorId": 7})
    assert (status, body["result"]) == (200, {"status": "Rejected"})


async def test_a_trigger_for_one_connector_sends_only_its_status(platform, api: PublicApi) -> None:
    async with emulated_station(platform, STATION, connectors=2):
        await wait_for(lambda: _at_least(stored_calls(platform.db, STATION, "StatusNotification"), 3))
        before = len(await stored_calls(platform.db, STATION, "StatusNotification"))
        status, _ = await api.command(STATION, "TriggerMessage", {"requestedMessage": "StatusNotification",
                                                                  "connectorId": 2})
        assert status == 200

        async def triggered() -> list[dict]:
            return (await stored_calls(platform.db, STATION, "StatusNotification"))[before:]

        assert [c["connectorId"] for c in await wait_for(triggered)] == [2]
