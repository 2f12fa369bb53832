"""Property-based fuzzing of OCPP-J frames against a running gateway: every frame gets the
reply OCPP-J prescribes (or the socket is closed with the right code), and the gateway
lives on."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from chargeplane.services.ocpp.core.protocol import ErrorCode
from support.platform import RunningPlatform

from .conftest import log_events

ERROR_CODES = {code.value for code in ErrorCode}
ACTIONS = ["BootNotification", "Heartbeat", "StatusNotification", "Authorize", "StartTransaction",
           "StopTransaction", "MeterValues", "DataTransfer", "Reset", "NoSuchAction", ""]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
payloads = st.dictionaries(
    st.sampled_from(["connectorId", "idTag", "meterStart", "timestamp", "transactionId", "meterStop", "status",
                     "errorCode", "meterValue", "chargePointVendor", "chargePointModel", "vendorId", "x"]),
    json_values, max_size=6,
)
calls = st.builds(lambda uid, action, payload: [2, uid, action, payload],
                  st.text(min_size=1, max_size=36), st.sampled_from(ACTIONS), payloads)
stray_replies = st.builds(lambda kind, uid, body: [kind, uid, *body], st.sampled_from([3, 4]),
                          st.text(min_size=1, max_size=36), st.lists(json_values, max_size=4))
frames = st.one_of(
    calls.map(json.dumps),
    stray_replies.map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=200),
    st.lists(json_values, max_size=6).map(json.dumps),
)


@pytest.fixture(scope="module")
def station(ocpp_url: str) -> Iterator[ClientConnection]:
    with connect(f"{ocpp_url}/FUZZ-1", subprotocols=["ocpp1.6"], open_timeout=10) as ws:
        yield ws


def assert_prescribed_reply(frame: str, reply: Any) -> None:
    assert isinstance(reply, list), reply
    if reply[0] == 3:  # only a valid CALL earns a CALLRESULT
        sent = json.loads(frame)
        assert sent[0] == 2 and reply[1] == sent[1] and isinstance(reply[2], dict)
        return
    assert reply[0] == 4 and len(reply) == 5, reply
    assert reply[2] in ERROR_CODES and isinstance(reply[3], str) and isinstance(reply[4], dict), reply
    # the platform is healthy: a broken frame is the station's error, never "retry later"
    assert reply[2] != ErrorCode.INTERNAL_ERROR, (frame, reply)


@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=frames)
def test_every_frame_gets_a_prescribed_reply_or_none(station: ClientConnection, frame: str) -> None:
    station.send(frame)
    try:
        parsed = json.loads(frame)
    except ValueError:
        parsed = None
    # CALLRESULTs and CALLERRORs (for calls never made, or broken) are not answered
    expects_reply = not (isinstance(parsed, list) and len(parsed) >= 1 and parsed[0] in (3, 4)
                         and not isinstance(parsed[0], bool))
    if expects_reply:
        assert_prescribed_reply(frame, json.loads(station.recv(timeout=10)))
    # whatever came before, the connection still serves
    station.send(json.dumps([2, "alive", "Heartbeat", {}]))
    assert json.loads(station.recv(timeout=10))[:2] == [3, "alive"]


def test_binary_and_invalid_utf8_frames(platform: RunningPlatform, ocpp_url: str) -> None:
    with connect(f"{ocpp_url}/FUZZ-2", subprotocols=["ocpp1.6"]) as ws:
        ws.send(b"\x00\xff\xfe binary")
        assert json.loads(ws.recv(timeout=10))[2] == "FormationViolation"
        ws.send(json.dumps([2, "ok", "Heartbeat", {}]))
        assert json.loads(ws.recv(timeout=10))[0] == 3
        ws.send(b'[2, "utf8", "Heartbeat", {"x": "\xff\xfe"}]', text=True)  # a text frame that is no UTF-8
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007  # RFC 6455: inconsistent data
    assert [e for e in log_events(platform, "ocpp", "ocpp frame refused") if e["station_id"] == "FUZZ-2"]


def test_reused_message_ids_are_each_answered(ocpp_url: str) -> None:
    with connect(f"{ocpp_url}/FUZZ-2", subprotocols=["ocpp1.6"]) as ws:
        for _ in range(3):  # back to back, the second while the first may still be handled
            ws.send(json.dumps([2, "same-id", "Heartbeat", {}]))
        assert [json.loads(ws.recv(timeout=10))[:2] for _ in range(3)] == [[3, "same-id"]] * 3
        ws.send(json.dumps([3, "same-id", {}]))  # a reply to our own reply: ignored
        ws.send(json.dumps([2, "after", "Heartbeat", {}]))
        assert json.loads(ws.recv(timeout=10))[:2] == [3, "after"]


def test_huge_numbers_and_deep_nesting(ocpp_url: str) -> None:
    with connect(f"{ocpp_url}/FUZZ-2", subprotocols=["ocpp1.6"]) as ws:
        for frame in ('[2, "n1", "StartTransaction", {"connectorId": 1' + "0" * 400 + ', "idTag": "A",'
                      ' "meterStart": 0, "timestamp": "2026-01-01T00:00:00Z"}]',
                      '[2, "n2", "DataTransfer", {"vendorId": "v", "data": ' + "[" * 5000 + "]" * 5000 + "}]"):
            ws.send(frame)
            assert_prescribed_reply(frame, json.loads(ws.recv(timeout=10)))
        ws.send(json.dumps([2, "ok", "Heartbeat", {}]))
        assert json.loads(ws.recv(timeout=10))[0] == 3


@pytest.mark.parametrize("value", ["Infinity", "-1e999", "NaN", "lots", "", "0x10", "1e-40", "9" * 20])
def test_a_sampled_value_that_is_no_number_is_refused_not_retried_nor_lost(ocpp_url: str, value: str) -> None:
    """OCPP 1.6: a Raw sampled value is a decimal number. Anything else is the station's error
    (PropertyConstraintViolation), not the CSMS's (InternalError would have the station resend
    it for ever), and must not be acknowledged with its valid neighbours lost downstream."""
    sampled = [{"value": value}, {"value": "230.1", "measurand": "Voltage", "phase": "L1-N"}]
    with connect(f"{ocpp_url}/FUZZ-2", subprotocols=["ocpp1.6"]) as ws:
        ws.send(json.dumps([2, "nan", "MeterValues", {"connectorId": 1, "meterValue": [
            {"timestamp": "2026-01-01T00:00:00Z", "sampledValue": sampled}]}]))
        reply = json.loads(ws.recv(timeout=10))
    assert reply[0] == 4 and reply[2] == "PropertyConstraintViolation", reply
    assert "meterValue/0/sampledValue/0/value" in reply[3]


BIG_INTEGERS = [2**31, 2**63, 2**64 - 1, -(2**63) - 1]
WELL_FORMED = {
    "StartTransaction": {"connectorId": 1, "idTag": "BIG", "meterStart": 0, "timestamp": "2026-01-01T00:00:00Z",
                         "reservationId": 1},
    "StopTransaction": {"transactionId": 1, "meterStop": 0, "timestamp": "2026-01-01T00:00:00Z"},
    "StatusNotification": {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
    "MeterValues": {"connectorId": 1, "transactionId": 1, "meterValue": [
        {"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": "1"}]}]},
}
INTEGER_FIELDS = [(action, field) for action, payload in WELL_FORMED.items()
                  for field, value in payload.items() if isinstance(value, int)]


@pytest.mark.parametrize(("action", "field"), INTEGER_FIELDS, ids=[f"{a}.{f}" for a, f in INTEGER_FIELDS])
def test_integers_too_large_for_the_csms_are_refused_as_the_stations_error(
    ocpp_url: str, action: str, field: str
) -> None:
    with connect(f"{ocpp_url}/FUZZ-2", subprotocols=["ocpp1.6"]) as ws:
        for number, big in enumerate(BIG_INTEGERS):
            frame = json.dumps([2, f"big-{number}", action, {**WELL_FORMED[action], field: big}])
            ws.send(frame)
            assert_prescribed_reply(frame, json.loads(ws.recv(timeout=10)))


def test_a_stop_with_a_reading_that_is_no_number_still_stops(platform: RunningPlatform, ocpp_url: str) -> None:
    """Refused, the stop would leave its session open: the bad reading is dropped instead."""
    with connect(f"{ocpp_url}/FUZZ-2", subprotocols=["ocpp1.6"]) as ws:
        ws.send(json.dumps([2, "start", "StartTransaction", {"connectorId": 3, "idTag": "ODD", "meterStart": 0,
                                                             "timestamp": "2026-01-01T00:00:00Z"}]))
        transaction_id = json.loads(ws.recv(timeout=10))[2]["transactionId"]
        ws.send(json.dumps([2, "stop", "StopTransaction", {
            "transactionId": transaction_id, "meterStop": 10, "timestamp": "2026-01-01T00:01:00Z",
            "transactionData": [{"timestamp": "2026-01-01T00:01:00Z", "sampledValue": [
                {"value": "NaN", "measurand": "SoC"}, {"value": "10", "context": "Transaction.End"}]}]}]))
        assert json.loads(ws.recv(timeout=10))[0] == 3
    assert [e for e in log_events(platform, "ocpp", "sampled values that are no numbers dropped")
            if e["transaction_id"] == transaction_id]


async def test_nothing_hostile_stalls_or_poisons_an_outbox(platform: RunningPlatform) -> None:
    """Run after the frames above: every event they caused was delivered, none refused, and
    no handler failed on them (a failure answers InternalError: a station would retry it)."""
    conn = await asyncpg.connect(platform.env["DATABASE_URL"])
    try:
        for _ in range(150):
            pending = await conn.fetch("SELECT destination, path, attempts, last_error FROM outbox")
            if not pending:
                break
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    assert not pending, [dict(row) for row in pending]
    assert not log_events(platform, "ocpp", "ocpp handler failed")
