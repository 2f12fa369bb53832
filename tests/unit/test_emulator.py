"""The station emulator against a tiny in-test CSMS (aiohttp.web on a loopback port).

Nothing of the station is mocked: the fake CSMS speaks OCPP-J over a real WebSocket, records
every frame the emulator sends, and at teardown checks each of them against the official
OCPP 1.6 JSON schemas shipped with the `ocpp` package.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import functools
import importlib.resources
import itertools
import json
import re
import socket
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from aiohttp import WSMsgType, web

from chargeplane.emulator.__main__ import main
from chargeplane.emulator.errors import CallTimeout, StationOffline
from chargeplane.emulator.events import ConnectionState, EventKind, StationEvent
from chargeplane.emulator.fleet import Fleet, FleetConfig
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

OCPP_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
CALL_ERROR_CODES = {
    "NotImplemented",
    "NotSupported",
    "InternalError",
    "ProtocolError",
    "SecurityError",
    "FormationViolation",
    "PropertyConstraintViolation",
    "OccurenceConstraintViolation",
    "TypeConstraintViolation",
    "GenericError",
}
# Fast enough for unit tests: 360 kW adds 100 Wh per second, so a 0.05 s meter interval
# still moves the whole-Wh register on every sample.
FAST_POWER_KW = 360.0
FAST_INTERVAL = 0.05


@functools.cache
def ocpp_schema(name: str) -> jsonschema_rs.Draft4Validator:
    text = importlib.resources.files("ocpp.v16").joinpath("schemas", f"{name}.json").read_text()
    return jsonschema_rs.Draft4Validator(json.loads(text), validate_formats=True)


def timestamps_in(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [v for k, v in value.items() if k in ("timestamp", "currentTime") and isinstance(v, str)]
        return found + [t for v in value.values() for t in timestamps_in(v)]
    if isinstance(value, list):
        return [t for v in value for t in timestamps_in(v)]
    return []


def now_z() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeCsms:
    """Answers Boot/Heartbeat/Status/Authorize/Start/Stop/MeterValues with valid OCPP 1.6
    replies, records every frame a station sends, and can send CALLs to a station."""

    def __init__(self) -> None:
        self.frames: dict[str, list[list[Any]]] = defaultdict(list)
        self.handshakes: dict[str, dict[str, str | None]] = {}
        # BootNotification statuses to answer with before Accepted.
        self.boot_statuses: list[str] = []
        # Actions answered with this CALLERROR code, and actions left unanswered.
        self.errors_for: dict[str, str] = {}
        self.silent_for: set[str] = set()
        self.url = ""
        self._transaction_ids = itertools.count(1)
        self._unique_ids = itertools.count(1)
        self._sockets: dict[str, web.WebSocketResponse] = {}
        self._replies: dict[str, asyncio.Future[list[Any]]] = {}
        # The action of every CSMS-initiated CALL, to validate the station's CALLRESULT.
        self._our_actions: dict[str, str] = {}
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/ocpp/{station_id}", self._serve)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.url = f"ws://127.0.0.1:{sock.getsockname()[1]}/ocpp"

    async def stop(self) -> None:
        for ws in list(self._sockets.values()):
            await ws.close()
        assert self._runner is not None
        await self._runner.cleanup()

    def calls(self, station_id: str, action: str) -> list[dict[str, Any]]:
        return [f[3] for f in self.frames[station_id] if f[0] == 2 and f[2] == action]

    def statuses(self, station_id: str, connector_id: int) -> list[str]:
        return [p["status"] for p in self.calls(station_id, "StatusNotification") if p["connectorId"] == connector_id]

    async def call(self, station_id: str, action: str, payload: dict[str, Any]) -> list[Any]:
        unique_id = f"csms-{next(self._unique_ids)}"
        self._our_actions[unique_id] = action
        reply = self._replies[unique_id] = asyncio.get_running_loop().create_future()
        await self._sockets[station_id].send_str(json.dumps([2, unique_id, action, payload]))
        return await asyncio.wait_for(reply, 2)

    async def drop(self, station_id: str) -> None:
        await self._sockets[station_id].close()

    def assert_frames_valid(self) -> None:
        """Every frame any station sent is valid OCPP 1.6J, with Z timestamps."""
        for frames in self.frames.values():
            for frame in frames:
                if frame[0] == 2:
                    schema, payload = frame[2], frame[3]
                elif frame[0] == 3:
                    schema, payload = self._our_actions[frame[1]] + "Response", frame[2]
                else:
                    assert len(frame) == 5 and frame[2] in CALL_ERROR_CODES, frame
                    continue
                errors = [e.message for e in ocpp_schema(schema).iter_errors(payload)]
                assert not errors, (schema, payload, errors)
                for timestamp in timestamps_in(payload):
                    assert OCPP_TIMESTAMP.match(timestamp), timestamp

    async def _serve(self, request: web.Request) -> web.WebSocketResponse:
        station_id = request.match_info["station_id"]
        ws = web.WebSocketResponse(protocols=("ocpp1.6",))
        await ws.prepare(request)
        self.handshakes[station_id] = {
            "protocol": ws.ws_protocol,
            "authorization": request.headers.get("Authorization"),
        }
        self._sockets[station_id] = ws
        try:
            async for message in ws:
                assert message.type is WSMsgType.TEXT, "OCPP-J uses text frames"
                frame = json.loads(message.data)
                self.frames[station_id].append(frame)
                if frame[0] == 2:
                    await self._answer(ws, frame)
                elif (reply := self._replies.pop(frame[1], None)) is not None:
                    reply.set_result(frame)
        finally:
            if self._sockets.get(station_id) is ws:
                del self._sockets[station_id]
        return ws

    async def _answer(self, ws: web.WebSocketResponse, frame: list[Any]) -> None:
        _, unique_id, action, _payload = frame
        if action in self.silent_for:
            return
        if action in self.errors_for:
            await ws.send_str(json.dumps([4, unique_id, self.errors_for[action], "refused by the test", {}]))
            return
        accepted = {"idTagInfo": {"status": "Accepted"}}
        if action == "BootNotification":
            status = self.boot_statuses.pop(0) if self.boot_statuses else "Accepted"
            reply = {"status": status, "currentTime": now_z(), "interval": 300 if status == "Accepted" else 0}
        elif action == "Heartbeat":
            reply = {"currentTime": now_z()}
        elif action == "StartTransaction":
            reply = {"transactionId": next(self._transaction_ids), **accepted}
        elif action in ("Authorize", "StopTransaction"):
            reply = accepted
        else:  # StatusNotification, MeterValues, Diagnostics/FirmwareStatusNotification
            reply = {}
        await ws.send_str(json.dumps([3, unique_id, reply]))


async def eventually(condition: Callable[[], object], within: float = 3.0) -> None:
    """Wait until `condition()` holds. Polling, because conditions mix station and CSMS state
    that no single event covers."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


@pytest.fixture
async def csms() -> AsyncIterator[FakeCsms]:
    fake = FakeCsms()
    await fake.start()
    try:
        yield fake
        fake.assert_frames_valid()
    finally:
        await fake.stop()


@pytest.fixture
async def station(csms: FakeCsms) -> AsyncIterator[Station]:
    """An online station with fast meter values, closed after the test."""
    station = Station(
        StationConfig("CP-REMOTE", csms.url, meter_interval=FAST_INTERVAL, power_kw=FAST_POWER_KW, call_timeout=2)
    )
    await station.connect()
    try:
        yield station
    finally:
        await station.close()


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

    for action, payload in [("DataTransfer", {"vendorId": "acme"}), ("FlyToTheMoon", {})]:
        error = await csms.call("CP-REMOTE", action, payload)
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


async def test_a_stop_that_could_not_be_sent_is_resent_unchanged_after_reconnect(csms: FakeCsms) -> None:
    config = StationConfig("CP-RETRY", csms.url, meter_interval=FAST_INTERVAL, power_kw=FAST_POWER_KW)
    station = Station(config)
    keeper = asyncio.create_task(station.maintain_connection(initial_backoff=0.3))
    try:
        await asyncio.wait_for(station.wait_online(), 2)
        await station.start_session(1, "TAG-RETRY")
        await csms.drop("CP-RETRY")
        await eventually(lambda: not station.is_online)
        with pytest.raises(StationOffline):
            await station.stop_session(1)
        frozen = station.connectors[1].pending_stop
        assert frozen is not None
        await asyncio.wait_for(station.wait_online(), 2)
        record = await station.stop_session(1, reason="Other")  # the first reason stands
    finally:
        await station.close()
        await asyncio.wait_for(keeper, 2)
    (stop,) = csms.calls("CP-RETRY", "StopTransaction")
    assert stop == frozen
    assert (record.meter_stop_wh, record.reason) == (stop["meterStop"], "Local")
    assert csms.statuses("CP-RETRY", 1)[-2:] == ["Finishing", "Available"]


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
