"""The desktop emulator's view model against the fake CSMS, without a display.

The station runs on the view model's own background loop, exactly as under the window; the
tests call poll() where the window's timer would, and read what the window would show.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from chargeplane.embedded import free_port
from chargeplane.emulator.events import ConnectionState
from chargeplane.emulator.gui.__main__ import default_csms_url
from chargeplane.emulator.gui.viewmodel import ConnectionSettings, StationSetup, StationViewModel
from support.fake_csms import FAST_INTERVAL, FAST_POWER_KW, FakeCsms

MakeViewModel = Callable[..., StationViewModel]


async def settle(vm: StationViewModel, condition: Callable[[], object], within: float = 5.0) -> None:
    """poll() until `condition()` holds, yielding to the fake CSMS in between."""
    async with asyncio.timeout(within):
        while True:
            vm.poll()
            if condition():
                return
            await asyncio.sleep(0.01)


@pytest.fixture
async def make_vm(csms: FakeCsms) -> AsyncIterator[MakeViewModel]:
    made: list[StationViewModel] = []

    def make(station_id: str = "GUI-1", url: str | None = None) -> StationViewModel:
        vm = StationViewModel(
            ConnectionSettings(csms_url=url or csms.url, station_id=station_id),
            StationSetup(power_kw=FAST_POWER_KW, meter_interval=FAST_INTERVAL),
            refresh_seconds=0.02,
        )
        made.append(vm)
        return vm

    yield make
    for vm in made:
        # close() waits for the CSMS, which needs this loop: off the loop's thread it goes.
        await asyncio.to_thread(vm.close)


async def online(vm: StationViewModel) -> None:
    vm.connect(vm.settings)
    await settle(vm, lambda: vm.state.connection is ConnectionState.ONLINE)


async def charging(vm: StationViewModel) -> int:
    vm.plug_in(1)
    await settle(vm, lambda: vm.connector(1).status == "Preparing")
    vm.start(1, "RFID-7")
    await settle(vm, lambda: vm.connector(1).status == "Charging")
    transaction_id = vm.connector(1).transaction_id
    assert transaction_id is not None
    return transaction_id


async def test_connect_plug_start_meter_values_power_and_stop(csms: FakeCsms, make_vm: MakeViewModel) -> None:
    vm = make_vm()
    assert vm.state.connection is ConnectionState.DISCONNECTED
    await online(vm)
    transaction_id = await charging(vm)
    await settle(vm, lambda: len(csms.calls("GUI-1", "MeterValues")) >= 3 and vm.connector(1).session_wh > 0)
    assert vm.connector(1).live_kw == FAST_POWER_KW
    registers = []
    for _ in range(3):
        registers.append(vm.connector(1).register_wh)
        await settle(vm, lambda: vm.connector(1).register_wh > registers[-1])

    vm.set_power(1, 0)
    await settle(vm, lambda: vm.connector(1).status == "SuspendedEV")
    assert vm.connector(1).live_kw == 0
    vm.set_power(1, 22)
    await settle(vm, lambda: vm.connector(1).live_kw == 22)

    vm.stop(1)
    await settle(vm, lambda: vm.connector(1).transaction_id is None)
    assert vm.connector(1).status == "Finishing"  # the cable is still in
    vm.unplug(1)
    await settle(vm, lambda: vm.connector(1).status == "Available")

    (stop,) = csms.calls("GUI-1", "StopTransaction")
    assert (stop["transactionId"], stop["idTag"], stop["reason"]) == (transaction_id, "RFID-7", "Local")
    assert csms.statuses("GUI-1", 1) == [
        "Available", "Preparing", "Charging", "SuspendedEV", "Charging", "Finishing", "Available",
    ]  # fmt: skip
    texts = [line.text for line in vm.log]
    assert texts[0] == f"Connecting to {csms.url}/GUI-1"
    assert any(text.startswith('SEND: [2,"') and '"StartTransaction"' in text for text in texts)
    assert any(text.startswith("RECV: [3,") for text in texts)
    assert "Connector 1: charging" in texts


async def test_commands_from_the_csms_are_answered_and_shown(csms: FakeCsms, make_vm: MakeViewModel) -> None:
    vm = make_vm()
    await online(vm)

    reply = await csms.call("GUI-1", "RemoteStartTransaction", {"connectorId": 1, "idTag": "REMOTE-1"})
    assert reply[2] == {"status": "Accepted"}
    await settle(vm, lambda: vm.connector(1).status == "Charging")
    assert vm.connector(1).id_tag == "REMOTE-1"
    transaction_id = vm.connector(1).transaction_id
    reply = await csms.call("GUI-1", "RemoteStopTransaction", {"transactionId": transaction_id})
    assert reply[2] == {"status": "Accepted"}
    await settle(vm, lambda: vm.connector(1).status == "Available")

    reply = await csms.call("GUI-1", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "42"})
    assert reply[2] == {"status": "Accepted"}
    await settle(vm, lambda: vm.state.heartbeat_interval == 42)
    reply = await csms.call("GUI-1", "GetConfiguration", {"key": ["MeterValueSampleInterval"]})
    assert reply[2]["configurationKey"][0]["value"] == str(FAST_INTERVAL)
    reply = await csms.call("GUI-1", "TriggerMessage", {"requestedMessage": "Heartbeat"})
    assert reply[2] == {"status": "Accepted"}

    vm.plug_in(1)
    await settle(vm, lambda: vm.connector(1).status == "Preparing")
    reply = await csms.call("GUI-1", "UnlockConnector", {"connectorId": 1})
    assert reply[2] == {"status": "Unlocked"}
    await settle(vm, lambda: not vm.connector(1).cable_connected and vm.connector(1).status == "Available")
    reply = await csms.call("GUI-1", "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    assert reply[2] == {"status": "Accepted"}
    await settle(vm, lambda: vm.connector(1).status == "Unavailable")
    reply = await csms.call("GUI-1", "Reset", {"type": "Soft"})
    assert reply[2] == {"status": "Accepted"}
    # The reset station drops its connection and, kept connected, boots again.
    await settle(vm, lambda: len(csms.calls("GUI-1", "BootNotification")) == 2 and vm.state.connection == "Online")

    assert [line.text for line in vm.csms_calls] == [
        "CSMS asked RemoteStartTransaction: Accepted",
        "CSMS asked RemoteStopTransaction: Accepted",
        "CSMS asked ChangeConfiguration: Accepted",
        "CSMS asked GetConfiguration: answered",
        "CSMS asked TriggerMessage: Accepted",
        "CSMS asked UnlockConnector: Unlocked",
        "CSMS asked ChangeAvailability: Accepted",
        "CSMS asked Reset: Accepted",
    ]


async def test_transaction_messages_queue_while_offline_and_flush_in_order(
    csms: FakeCsms, make_vm: MakeViewModel
) -> None:
    vm = make_vm()
    await online(vm)
    transaction_id = await charging(vm)

    vm.disconnect()
    await settle(vm, lambda: vm.state.connection is ConnectionState.DISCONNECTED and len(vm.state.queued) >= 3)
    assert vm.connector(1).status == "Charging", "the EV charges on while the station is offline"
    vm.stop(1)
    stop_entry = f"StopTransaction (transaction {transaction_id})"
    await settle(vm, lambda: vm.state.queued[-1:] == (stop_entry,))
    queued = vm.state.queued
    assert set(queued[:-1]) == {f"MeterValues (transaction {transaction_id})"}
    assert vm.connector(1).status == "Finishing"
    sent_while_online = len(csms.frames["GUI-1"])

    vm.connect(vm.settings)
    await settle(vm, lambda: not vm.state.queued and vm.connector(1).transaction_id is None)
    flushed = [frame[2] for frame in csms.frames["GUI-1"][sent_while_online:] if frame[0] == 2]
    transaction_messages = [action for action in flushed if action in ("MeterValues", "StopTransaction")]
    assert transaction_messages == ["MeterValues"] * (len(queued) - 1) + ["StopTransaction"]
    assert flushed[0] == "BootNotification"


async def test_connection_errors_are_logged_and_the_log_filters_and_saves(
    make_vm: MakeViewModel, tmp_path: Path
) -> None:
    vm = make_vm(url=f"ws://127.0.0.1:{free_port()}/ocpp")  # nobody listens there
    vm.connect(vm.settings)
    await settle(vm, lambda: any(line.text.startswith("Error: connection attempt failed") for line in vm.log))
    vm.disconnect()
    await settle(vm, lambda: vm.state.connection is ConnectionState.DISCONNECTED)

    vm.set_log_filter("ERROR:")
    visible = vm.visible_log()
    assert visible and all("error:" in line.text.lower() for line in visible)
    saved = tmp_path / "station.log"
    assert vm.save_log(saved) == len(visible)
    assert saved.read_text().splitlines() == [str(line) for line in visible]


async def test_intervals_set_before_connecting_are_the_new_stations(csms: FakeCsms, make_vm: MakeViewModel) -> None:
    vm = make_vm()
    vm.set_intervals("", "0.2")
    await online(vm)
    assert vm.state.meter_interval == 0.2
    vm.set_intervals("7", "")
    await settle(vm, lambda: vm.state.heartbeat_interval == 7)
    vm.set_intervals("soon", "")
    await settle(vm, lambda: any(line.text.startswith("Intervals failed") for line in vm.log))


async def test_closing_ends_the_open_session_and_the_connection(csms: FakeCsms, make_vm: MakeViewModel) -> None:
    vm = make_vm()
    await online(vm)
    transaction_id = await charging(vm)
    await asyncio.to_thread(vm.close)
    (stop,) = csms.calls("GUI-1", "StopTransaction")
    assert (stop["transactionId"], stop["reason"]) == (transaction_id, "Other")
    await settle(vm, lambda: vm.state.connection is ConnectionState.CLOSED)
    assert not csms.is_connected("GUI-1")


def test_the_csms_url_comes_from_platform_env_unless_overridden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OCPP_URL", raising=False)
    platform_env = tmp_path / "platform.env"
    assert default_csms_url(platform_env) == "ws://127.0.0.1:8081/ocpp"
    platform_env.write_text("DATABASE_URL=postgresql://x\nOCPP_URL=ws://127.0.0.1:9081/ocpp\n")
    assert default_csms_url(platform_env) == "ws://127.0.0.1:9081/ocpp"
    monkeypatch.setenv("OCPP_URL", "ws://elsewhere:8081/ocpp")
    assert default_csms_url(platform_env) == "ws://elsewhere:8081/ocpp"
