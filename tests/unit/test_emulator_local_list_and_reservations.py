"""The emulator's local authorization list and reservations against the fake CSMS: the rules
of SendLocalList, authorizing from the list while offline, and a reservation's life on the
station (Reserved, kept from other tags, used by its tag or a tag of the same parent)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from chargeplane.emulator.errors import ConnectorReserved, StationOffline
from chargeplane.emulator.local_list import LocalAuthList
from chargeplane.emulator.protocol import format_timestamp
from chargeplane.emulator.station import Station
from support.fake_csms import FakeCsms, eventually

ACCEPTED = {"status": "Accepted"}


def in_seconds(seconds: float) -> str:
    return format_timestamp(datetime.now(UTC) + timedelta(seconds=seconds))


def test_send_local_list_rules() -> None:
    local_list = LocalAuthList()
    assert local_list.reported_version == 0
    assert local_list.update("Full", 3, [{"idTag": "A"}], 10) == "Failed"  # a full list needs idTagInfo
    assert local_list.update("Full", 3, [{"idTag": "A", "idTagInfo": ACCEPTED}] * 2, 10) == "Failed"  # twice
    too_many = [{"idTag": f"T{i}", "idTagInfo": ACCEPTED} for i in range(11)]
    assert local_list.update("Full", 3, too_many, 10) == "Failed"
    assert local_list.version == 0
    assert local_list.update("Full", 3, [{"idTag": "A", "idTagInfo": ACCEPTED}], 10) == "Accepted"
    assert local_list.update("Differential", 3, [{"idTag": "B", "idTagInfo": ACCEPTED}], 10) == "VersionMismatch"
    assert local_list.update("Differential", 4, [{"idTag": "B", "idTagInfo": ACCEPTED}, {"idTag": "A"}],
                             10) == "Accepted"
    assert (local_list.version, set(local_list.entries)) == (4, {"B"})
    assert local_list.update("Differential", 5, [{"idTag": "B"}], 10) == "Accepted"
    assert (local_list.version, local_list.reported_version) == (5, 0)  # an empty list reports 0


async def test_an_offline_station_authorizes_from_its_local_list(csms: FakeCsms, station: Station) -> None:
    reply = await csms.call("CP-REMOTE", "SendLocalList", {
        "listVersion": 1, "updateType": "Full", "localAuthorizationList": [
            {"idTag": "LISTED", "idTagInfo": ACCEPTED},
            {"idTag": "OLD", "idTagInfo": {"status": "Accepted", "expiryDate": in_seconds(-60)}}]})
    assert reply[2] == ACCEPTED
    assert (await csms.call("CP-REMOTE", "GetLocalListVersion", {}))[2] == {"listVersion": 1}
    await station.disconnect()
    with pytest.raises(StationOffline):
        await station.start_session(1, "OLD")  # expired on the list: only the CSMS could say yes
    start = asyncio.create_task(station.start_session(1, "LISTED"))
    await eventually(lambda: station.connectors[1].status == "Preparing")
    await station.connect()
    await start
    assert [a["idTag"] for a in csms.calls("CP-REMOTE", "Authorize")] == []
    assert [s["idTag"] for s in csms.calls("CP-REMOTE", "StartTransaction")] == ["LISTED"]
    await station.stop_session(1)


async def test_a_reservation_on_the_station(csms: FakeCsms, station: Station) -> None:
    reserve = {"connectorId": 1, "expiryDate": in_seconds(60), "idTag": "OWNER", "reservationId": 7,
               "parentIdTag": "FAMILY"}
    assert (await csms.call("CP-REMOTE", "ReserveNow", reserve))[2] == ACCEPTED
    await eventually(lambda: csms.statuses("CP-REMOTE", 1)[-1:] == ["Reserved"])
    assert (await csms.call("CP-REMOTE", "ReserveNow", {**reserve, "reservationId": 8}))[2] == {"status": "Occupied"}
    assert (await csms.call("CP-REMOTE", "ReserveNow", {**reserve, "connectorId": 3}))[2] == {"status": "Rejected"}
    with pytest.raises(ConnectorReserved):
        await station.start_session(1, "STRANGER")
    assert station.connectors[1].status == "Reserved"

    # a tag of the same parent (known from the local list here) may use it
    await csms.call("CP-REMOTE", "SendLocalList", {"listVersion": 1, "updateType": "Full", "localAuthorizationList": [
        {"idTag": "CHILD", "idTagInfo": {"status": "Accepted", "parentIdTag": "FAMILY"}}]})
    await csms.call("CP-REMOTE", "ChangeConfiguration", {"key": "LocalPreAuthorize", "value": "true"})
    await station.start_session(1, "CHILD")
    assert csms.calls("CP-REMOTE", "StartTransaction")[-1]["reservationId"] == 7
    assert (await csms.call("CP-REMOTE", "CancelReservation", {"reservationId": 7}))[2] == {"status": "Rejected"}
    await station.stop_session(1)
    assert station.connectors[1].status == "Available"

    await csms.call("CP-REMOTE", "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    assert (await csms.call("CP-REMOTE", "ReserveNow", reserve))[2] == {"status": "Unavailable"}
