"""The station emulator against the fake CSMS of `support.fake_csms`: real OCPP-J over a real
WebSocket, every frame the emulator sends checked against the OCPP 1.6 schemas at teardown."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chargeplane.emulator.__main__ import main
from chargeplane.emulator.errors import CallTimeout
from chargeplane.emulator.events import ConnectionState, EventKind, StationEvent
from chargeplane.emulator.fleet import Fleet, FleetConfig
from chargeplane.emulator.ledger import Ledger, read_ledger
from chargeplane.emulator.protocol import (
    Call,
    CallError,
    CallErrorFrame,
    CallResult,
    FrameError,
    format_timestamp,
    parse_frame,
    utc_timestamp,
)
from chargeplane.emulator.station import Station, StationConfig
from support.fake_csms import FAST_INTERVAL, FAST_POWER_KW, OCPP_TIMESTAMP, FakeCsms, eventually


def energy_register(meter_values: dict[str, Any]) -> int:
    (sample,) = meter_values["meterValue"]
    (value,) = [v["value"] for v in sample["sampledValue"] if v["measurand"] == "Energy.Active.Import.Register"]
    return int(value)


# ----- protocol ------------------------------------------------------------------------------


def test_timestamps_are_utc_with_milliseconds_and_z() -> None:
    moment = datetime(2026, 11, 26, 8, 0, 0, 123456, tzinfo=UTC)
    assert format_timestamp(moment) == "2026-11-26T08:00:00.123Z"
    assert OCPP_TIMESTAMP.match(utc_timestamp())
    with pytest.raises(ValueError, match="naive"):
        format_timestamp(datetime(2026, 11, 26))  # noqa: DTZ001 - the point of the test


def test_frames_parse_into_typed_messages() -> None:
    assert parse_frame('[2,"a","Reset",{"type":"Soft"}]') == Call("a", "Reset", {"type": "Soft"})
    assert parse_frame(b'[3,"b",{"status":"Accepted"}]') == CallResult("b", {"status": "Accepted"})
    error = parse_frame('[4,"c","NotImplemented","nope",{}]')
    assert error == CallErrorFrame("c", "NotImplemented", "nope", {})
    assert isinstance(error, CallErrorFrame)
    assert isinstance(error.to_exception(), CallError)
    with pytest.raises(FrameError) as malformed:
        parse_frame('[2,"d","Reset","not an object"]')
    assert (malformed.value.unique_id, malformed.value.message_type) == ("d", 2)
    for garbage in ("not json", "{}", '[9,"e",{}]', '[3,"",{}]'):
        with pytest.raises(FrameError):
            parse_frame(garbage)


# ----- one station ---------------------------------------------------------------------------


async def test_station_boots_charges_with_rising_meter_and_stops(csms: FakeCsms) -> None:
    events: list[StationEvent] = []
    config = StationConfig(
        "CP-1",
        csms.url,
        password="s3cret",
        heartbeat_interval=60,
        meter_interval=FAST_INTERVAL,
        power_kw=FAST_POWER_KW,
    )
    station = Station(config, on_event=events.append)
    try:
        await station.connect()
        assert station.is_online
        assert station.heartbeat_interval == 60  # the override beats the CSMS's 300
        transaction_id = await station.start_session(1, "TAG-1")
        await eventually(lambda: len(csms.calls("CP-1", "MeterValues")) >= 3)
        record = await station.stop_session(1)
    finally:
        await station.close()

    assert csms.handshakes["CP-1"] == {
        "protocol": "ocpp1.6",
        "authorization": "Basic " + base64.b64encode(b"CP-1:s3cret").decode(),
    }
    actions = [frame[2] for frame in csms.frames["CP-1"] if frame[0] == 2]
    assert actions[:6] == [
        "BootNotification",
        "StatusNotification",
        "StatusNotification",
        "Authorize",
        "StatusNotification",
        "StartTransaction",
    ]
    assert csms.statuses("CP-1", 0) == ["Available"]
    assert csms.statuses("CP-1", 1) == ["Available", "Preparing", "Charging", "Finishing", "Available"]

    (start,) = csms.calls("CP-1", "StartTransaction")
    assert start["meterStart"] == 0
    assert start["idTag"] == "TAG-1"

    meter_values = csms.calls("CP-1", "MeterValues")
    assert all(m["transactionId"] == transaction_id for m in meter_values)
    registers = [energy_register(m) for m in meter_values]
    assert registers == sorted(set(registers)), "the energy register must rise with every sample"
    sampled = meter_values[0]["meterValue"][0]["sampledValue"]
    assert {(v["measurand"], v.get("phase"), v["unit"]) for v in sampled} == {
        ("Energy.Active.Import.Register", None, "Wh"),
        ("Power.Active.Import", None, "W"),
        ("Current.Import", "L1", "A"),
        ("Current.Import", "L2", "A"),
        ("Current.Import", "L3", "A"),
        ("Voltage", "L1-N", "V"),
        ("Voltage", "L2-N", "V"),
        ("Voltage", "L3-N", "V"),
        ("SoC", None, "Percent"),
    }
    assert all(v["context"] == "Sample.Periodic" for v in sampled)
    power = next(float(v["value"]) for v in sampled if v["measurand"] == "Power.Active.Import")
    assert power == FAST_POWER_KW * 1000

    (stop,) = csms.calls("CP-1", "StopTransaction")
    (end_sample,) = stop["transactionData"]
    (end_value,) = end_sample["sampledValue"]
    assert end_value["context"] == "Transaction.End"
    assert stop["meterStop"] == int(end_value["value"]) >= registers[-1]
    assert (stop["transactionId"], stop["idTag"], stop["reason"]) == (transaction_id, "TAG-1", "Local")
    assert record.energy_wh == stop["meterStop"] - start["meterStart"] > 0
    assert station.stats.transactions_completed == 1

    texts = [event.text for event in events]
    assert any(text.startswith('SEND: [2,"') and "BootNotification" in text for text in texts)
    assert any(text.startswith("RECV: [3") for text in texts)
    states = [event.state for event in events if event.kind is EventKind.CONNECTION]
    assert states[:3] == [ConnectionState.CONNECTING, ConnectionState.BOOTING, ConnectionState.ONLINE]
    assert states[-1] == ConnectionState.CLOSED
    assert "connector 1: Charging" in texts


async def test_remote_start_and_stop_and_unknown_action(csms: FakeCsms, station: Station) -> None:
    assert station.heartbeat_interval == 300  # adopted from the BootNotification reply

    reply = await csms.call("CP-REMOTE", "RemoteStartTransaction", {"connectorId": 1, "idTag": "REMOTE-1"})
    assert reply[2] == {"status": "Accepted"}
    await eventually(lambda: station.connectors[1].charging)
    (start,) = csms.calls("CP-REMOTE", "StartTransaction")
    assert start["idTag"] == "REMOTE-1"
    assert csms.calls("CP-REMOTE", "Authorize") == []  # AuthorizeRemoteTxRequests is false
    frames = csms.frames["CP-REMOTE"]
    assert frames.index(reply) < next(i for i, f in enumerate(frames) if f[0] == 2 and f[2] == "StartTransaction")

    busy = await csms.call("CP-REMOTE", "RemoteStartTransaction", {"connectorId": 1, "idTag": "REMOTE-2"})
    assert busy[2] == {"status": "Rejected"}

    transaction_id = station.connectors[1].transaction_id
    reply = await csms.call("CP-REMOTE", "RemoteStopTransaction", {"transactionId": transaction_id})
    assert reply[2] == {"status": "Accepted"}
    await eventually(lambda: station.connectors[1].status == "Available")
    (stop,) = csms.calls("CP-REMOTE", "StopTransaction")
    assert (stop["transactionId"], stop["reason"]) == (transaction_id, "Remote")
    unknown_stop = await csms.call("CP-REMOTE", "RemoteStopTransaction", {"transactionId": 999})
    assert unknown_stop[2] == {"status": "Rejected"}

    error = await csms.call("CP-REMOTE", "FlyToTheMoon", {})
    assert error[0] == 4
    assert error[2] == "NotImplemented"


async def test_configuration_keys_can_be_read_and_changed(csms: FakeCsms, station: Station) -> None:
    reply = await csms.call("CP-REMOTE", "GetConfiguration", {})
    keys = {entry["key"]: entry for entry in reply[2]["configurationKey"]}
    assert keys["HeartbeatInterval"] == {"key": "HeartbeatInterval", "readonly": False, "value": "300"}
    assert keys["MeterValueSampleInterval"]["value"] == str(FAST_INTERVAL)

    partial = await csms.call("CP-REMOTE", "GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]})
    assert [entry["key"] for entry in partial[2]["configurationKey"]] == ["HeartbeatInterval"]
    assert partial[2]["unknownKey"] == ["Nope"]

    for key, value, status in [
        ("HeartbeatInterval", "0.05", "Accepted"),
        ("HeartbeatInterval", "soon", "Rejected"),
        ("NumberOfConnectors", "4", "Rejected"),
        ("NoSuchKey", "1", "NotSupported"),
    ]:
        reply = await csms.call("CP-REMOTE", "ChangeConfiguration", {"key": key, "value": value})
        assert reply[2] == {"status": status}, key
    assert station.heartbeat_interval == 0.05
    await eventually(lambda: len(csms.calls("CP-REMOTE", "Heartbeat")) >= 2)


async def test_trigger_message_availability_and_reset(csms: FakeCsms, station: Station) -> None:
    before = len(csms.calls("CP-REMOTE", "StatusNotification"))
    reply = await csms.call("CP-REMOTE", "TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1})
    assert reply[2] == {"status": "Accepted"}
    await eventually(lambda: len(csms.calls("CP-REMOTE", "StatusNotification")) == before + 1)

    reply = await csms.call("CP-REMOTE", "TriggerMessage", {"requestedMessage": "MeterValues"})
    assert reply[2] == {"status": "Accepted"}
    await eventually(lambda: csms.calls("CP-REMOTE", "MeterValues"))
    (triggered,) = csms.calls("CP-REMOTE", "MeterValues")
    assert {v["context"] for v in triggered["meterValue"][0]["sampledValue"]} == {"Trigger"}

    reply = await csms.call("CP-REMOTE", "TriggerMessage", {"requestedMessage": "Heartbeat", "connectorId": 7})
    assert reply[2] == {"status": "Rejected"}

    reply = await csms.call("CP-REMOTE", "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    assert reply[2] == {"status": "Accepted"}
    await eventually(lambda: csms.statuses("CP-REMOTE", 1)[-1:] == ["Unavailable"])

    reply = await csms.call("CP-REMOTE", "Reset", {"type": "Soft"})
    assert reply[2] == {"status": "Accepted"}
    # Without maintain_connection() nobody reconnects a reset station.
    await eventually(lambda: station.connection_state is ConnectionState.DISCONNECTED)
    assert station.stats.disconnects == 0  # a reset is not a connection failure


async def test_boot_is_retried_while_pending(csms: FakeCsms) -> None:
    csms.boot_statuses = ["Pending", "Pending"]
    station = Station(StationConfig("CP-PENDING", csms.url, boot_retry_interval=0.02))
    try:
        await station.connect()
        assert station.boot_status == "Accepted"
    finally:
        await station.close()
    assert len(csms.calls("CP-PENDING", "BootNotification")) == 3
    # Nothing but BootNotification before the CSMS accepted the station.
    actions = [frame[2] for frame in csms.frames["CP-PENDING"] if frame[0] == 2]
    assert actions[:4] == ["BootNotification"] * 3 + ["StatusNotification"]


async def test_call_timeouts_and_call_errors_raise_and_are_counted(csms: FakeCsms) -> None:
    station = Station(StationConfig("CP-ERR", csms.url, call_timeout=0.2))
    try:
        await station.connect()
        csms.silent_for.add("Heartbeat")
        with pytest.raises(CallTimeout):
            await station.call("Heartbeat", {})
        csms.errors_for["Authorize"] = "InternalError"
        with pytest.raises(CallError) as refused:
            await station.start_session(1, "TAG-ERR")
        assert refused.value.code == "InternalError"
        assert not station.connectors[1].in_session
        assert station.connectors[1].status == "Available"
    finally:
        await station.close()
    assert station.stats.call_timeouts == 1
    assert station.stats.call_errors == {"InternalError": 1}


async def test_station_reconnects_and_boots_again_after_a_drop(csms: FakeCsms) -> None:
    station = Station(StationConfig("CP-DROP", csms.url))
    keeper = asyncio.create_task(station.maintain_connection(initial_backoff=0.02))
    try:
        await asyncio.wait_for(station.wait_online(), 2)
        await csms.drop("CP-DROP")
        await eventually(lambda: len(csms.calls("CP-DROP", "BootNotification")) == 2 and station.is_online)
    finally:
        await station.close()
        await asyncio.wait_for(keeper, 2)
    assert station.stats.disconnects == 1
    assert station.stats.boots_accepted == 2


async def test_transaction_messages_made_offline_are_queued_and_sent_in_order_on_reconnect(
    csms: FakeCsms,
) -> None:
    config = StationConfig("CP-RETRY", csms.url, meter_interval=FAST_INTERVAL, power_kw=FAST_POWER_KW)
    station = Station(config)
    keeper = asyncio.create_task(station.maintain_connection(initial_backoff=0.05, max_backoff=0.2))
    try:
        await asyncio.wait_for(station.wait_online(), 2)
        transaction_id = await station.start_session(1, "TAG-RETRY")
        csms.refuse_connections = True
        await csms.drop("CP-RETRY")
        await eventually(lambda: not station.is_online)
        sent_before_reconnect = len(csms.frames["CP-RETRY"])
        await eventually(lambda: len(station.transaction_queue) >= 2)  # samples keep being taken
        stopper = asyncio.create_task(station.stop_session(1))
        await eventually(lambda: station.connectors[1].status == "Finishing")
        joiner = asyncio.create_task(station.stop_session(1, reason="Other"))  # joins: the first reason stands
        queued = [message.action for message in station.transaction_queue]
        assert queued[-1] == "StopTransaction" and set(queued[:-1]) == {"MeterValues"}
        await asyncio.sleep(0.2)
        assert not stopper.done(), "the stop waits for the CSMS, however long the station is offline"

        csms.refuse_connections = False
        record = await asyncio.wait_for(stopper, 3)
        assert await joiner == record
    finally:
        await station.close()
        await asyncio.wait_for(keeper, 2)

    after = [frame for frame in csms.frames["CP-RETRY"][sent_before_reconnect:] if frame[0] == 2]
    actions = [frame[2] for frame in after]
    samples = len(queued) - 1
    assert actions == [
        "BootNotification",
        "StatusNotification",
        "StatusNotification",
        *["MeterValues"] * samples,
        "StopTransaction",
        "StatusNotification",
    ]
    assert [frame[3]["status"] for frame in after if frame[2] == "StatusNotification"] == [
        "Available",
        "Finishing",
        "Available",
    ]
    (stop,) = csms.calls("CP-RETRY", "StopTransaction")
    offline_samples = [frame[3] for frame in after if frame[2] == "MeterValues"]
    assert all(sample["transactionId"] == transaction_id for sample in offline_samples)
    registers = [energy_register(sample) for sample in offline_samples]
    assert registers == sorted(registers) and registers[-1] <= stop["meterStop"]
    assert all(sample["meterValue"][0]["timestamp"] <= stop["timestamp"] for sample in offline_samples)
    assert (record.meter_stop_wh, record.reason, record.acknowledged) == (stop["meterStop"], "Local", True)
    assert len(station.transaction_queue) == 0


async def test_internal_error_means_retry_later_until_the_attempts_run_out(csms: FakeCsms) -> None:
    config = StationConfig(
        "CP-BUSY", csms.url, power_kw=FAST_POWER_KW, transaction_attempts=3, transaction_retry_interval=0.02
    )
    station = Station(config)
    try:
        await station.connect()
        csms.internal_errors["StartTransaction"] = 2
        first = await station.start_session(1, "TAG-BUSY")
        csms.internal_errors["StopTransaction"] = 1
        record = await station.stop_session(1)
        assert record.acknowledged

        await station.start_session(1, "TAG-BUSY")
        csms.internal_errors["StopTransaction"] = 3
        with pytest.raises(CallError) as given_up:
            await station.stop_session(1)
        assert given_up.value.code == "InternalError"
    finally:
        await station.close()
    starts = csms.calls("CP-BUSY", "StartTransaction")
    assert len(starts) == 4 and starts[0] == starts[1] == starts[2], "resent unchanged"
    stops = csms.calls("CP-BUSY", "StopTransaction")
    assert [stop["transactionId"] for stop in stops] == [first, first, first + 1, first + 1, first + 1]
    last = station.connectors[1].last_transaction
    assert last is not None and not last.acknowledged
    assert station.connectors[1].status == "Available"
    assert station.stats.call_errors == {"InternalError": 6}


async def test_cable_and_power_drive_the_connector_status(csms: FakeCsms, station: Station) -> None:
    await station.plug_in(1)
    await station.start_session(1, "TAG-CABLE")
    await station.set_power(1, 0)
    assert station.connectors[1].meter.power_w == 0
    await station.set_power(1, 22)
    await station.unplug(1)

    assert csms.statuses("CP-REMOTE", 1) == [
        "Available", "Preparing", "Charging", "SuspendedEV", "Charging", "Finishing", "Available",
    ]  # fmt: skip
    (stop,) = csms.calls("CP-REMOTE", "StopTransaction")
    assert stop["reason"] == "EVDisconnected"


async def test_a_stop_with_the_cable_plugged_in_stays_finishing_until_unplugged(
    csms: FakeCsms, station: Station
) -> None:
    await station.plug_in(1)
    await station.start_session(1, "TAG-CABLE")
    await station.stop_session(1)
    assert station.connectors[1].status == "Finishing"
    await station.unplug(1)
    assert csms.statuses("CP-REMOTE", 1)[-3:] == ["Charging", "Finishing", "Available"]


# ----- fleet and CLI -------------------------------------------------------------------------


def fast_fleet(url: str, stations: int) -> FleetConfig:
    return FleetConfig(
        csms_url=url,
        stations=stations,
        sessions=1,
        session_seconds=0.2,
        meter_interval=FAST_INTERVAL,
        power_kw=FAST_POWER_KW,
        seed=7,
        ramp=200,
    )


async def test_fleet_runs_every_session_to_completion(csms: FakeCsms) -> None:
    summary = await Fleet(fast_fleet(csms.url, stations=3)).run()

    assert set(csms.frames) == {"EMU-0001", "EMU-0002", "EMU-0003"}
    assert summary.stations_connected == summary.boots_accepted == 3
    assert summary.sessions_requested == summary.sessions_started == summary.sessions_completed == 3
    assert summary.call_errors == {}
    assert summary.failures == {}
    assert summary.succeeded
    stops = [stop for station_id in csms.frames for stop in csms.calls(station_id, "StopTransaction")]
    starts = [start for station_id in csms.frames for start in csms.calls(station_id, "StartTransaction")]
    assert summary.energy_wh == sum(s["meterStop"] for s in stops) - sum(s["meterStart"] for s in starts) > 0
    assert summary.messages_sent == sum(len(frames) for frames in csms.frames.values())
    assert json.loads(json.dumps(summary.to_dict()))["sessions_completed"] == 3


async def test_fleet_charges_on_every_connector(csms: FakeCsms) -> None:
    config = dataclasses.replace(fast_fleet(csms.url, stations=1), connectors=2, sessions=3, max_pause_seconds=0.01)
    summary = await Fleet(config).run()
    assert summary.sessions_completed == 3
    starts = csms.calls("EMU-0001", "StartTransaction")
    assert sorted(start["connectorId"] for start in starts) == [1, 1, 2]


async def test_cli_runs_a_fleet_and_writes_the_summary(
    csms: FakeCsms, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary_file = tmp_path / "summary.json"
    argv = [
        "--url", csms.url, "--stations", "2", "--sessions", "2", "--session-seconds", "0.1",
        "--max-pause", "0.05", "--meter-interval", "0.05", "--power-kw", "50", "--seed", "3",
        "--ramp", "100", "--summary-json", str(summary_file), "--quiet",
    ]  # fmt: skip
    # main() runs its own event loop, so it gets a thread while this loop serves the CSMS.
    assert await asyncio.to_thread(main, argv) == 0

    summary = json.loads(summary_file.read_text())
    assert summary["sessions_completed"] == summary["sessions_requested"] == 4
    assert summary["succeeded"] is True
    assert summary["seed"] == 3
    assert "sessions completed  4 / 4" in capsys.readouterr().out


async def test_cli_fails_when_the_csms_refuses_sessions(csms: FakeCsms, tmp_path: Path) -> None:
    csms.errors_for["StartTransaction"] = "GenericError"
    summary_file = tmp_path / "summary.json"
    argv = ["--url", csms.url, "--session-seconds", "0.1", "--quiet", "--summary-json", str(summary_file)]
    assert await asyncio.to_thread(main, argv) == 1
    summary = json.loads(summary_file.read_text())
    assert summary["call_errors"] == {"GenericError": 1}
    assert summary["sessions_completed"] == 0


async def test_a_forever_station_with_an_exact_id_charges_until_stopped(csms: FakeCsms) -> None:
    """What a ChargingStation's simulator Deployment runs: one named station that never exits by itself."""
    config = dataclasses.replace(
        fast_fleet(csms.url, stations=1), station_id_override="CP-EXACT", sessions=0, forever=True,
        max_pause_seconds=0.01,
    )
    fleet = Fleet(config)
    run = asyncio.create_task(fleet.run())
    await eventually(lambda: fleet.progress().sessions_completed >= 3, within=10)
    assert not run.done()
    fleet.request_stop()
    summary = await run
    assert set(csms.frames) == {"CP-EXACT"}
    assert summary.sessions_completed >= 3 and summary.interrupted


def test_an_exact_station_id_names_exactly_one_station() -> None:
    with pytest.raises(ValueError, match="one station"):
        FleetConfig(stations=2, station_id_override="CP-1")
async def test_the_ledger_records_every_call_with_its_reply_or_why_there_was_none(
    csms: FakeCsms, tmp_path: Path
) -> None:
    ledger_path = tmp_path / "ledger.jsonl"
    config = dataclasses.replace(fast_fleet(csms.url, stations=2), ledger_path=ledger_path)
    csms.internal_errors["StartTransaction"] = 1
    summary = await Fleet(config).run()
    ledger = Ledger(ledger_path)
    station = Station(StationConfig("CP-SILENT", csms.url, call_timeout=0.1), ledger=ledger)
    try:
        await station.connect()
        csms.silent_for.add("Heartbeat")
        with pytest.raises(CallTimeout):
            await station.call("Heartbeat", {})
    finally:
        await station.close()
        ledger.close()
    with ledger_path.open("ab") as cut_short:
        cut_short.write(b'{"station": "CP-KILLED", "act')  # a writer killed mid-line

    entries = read_ledger(ledger_path)
    sent = [frame for frames in csms.frames.values() for frame in frames if frame[0] == 2]
    assert sorted(entry["unique_id"] for entry in entries) == sorted(frame[1] for frame in sent)
    assert len(entries) == summary.messages_sent + 4  # CP-SILENT: boot, two statuses, the heartbeat
    refused, *accepted = [entry for entry in entries if entry["action"] == "StartTransaction"]
    assert refused["error"] == "InternalError" and "result" not in refused
    resent = next(entry for entry in accepted if entry["station"] == refused["station"])
    assert resent["payload"] == refused["payload"] and resent["result"]["transactionId"] > 0
    (silent,) = [entry for entry in entries if entry["station"] == "CP-SILENT" and entry["action"] == "Heartbeat"]
    assert silent["no_reply"] == "timeout" and "result" not in silent
    assert all(OCPP_TIMESTAMP.match(entry["at"]) for entry in entries)


class _ClosedSocket:
    """What the station's socket looks like once aiohttp has marked it closed while the reader
    task, busy closing it, has not yet said so."""

    closed = True


async def test_a_socket_closed_under_the_station_takes_it_offline_at_once(csms: FakeCsms) -> None:
    """Found by the chaos suite: a station still online to itself resent a MeterValues to such a
    socket in a loop that never yielded to the reader, and froze the whole fleet's event loop."""
    station = Station(StationConfig("CP-CLOSED", csms.url, meter_interval=FAST_INTERVAL, power_kw=FAST_POWER_KW))
    await station.connect()
    real_socket = station.link._ws
    assert real_socket is not None
    try:
        await station.start_session(1, "TAG-CLOSED")
        station.link._ws = _ClosedSocket()  # type: ignore[assignment]
        await eventually(lambda: not station.is_online)  # a spinning queue would never let this run
    finally:
        await station.close()
        await real_socket.close()
    assert station.stats.disconnects == 1
