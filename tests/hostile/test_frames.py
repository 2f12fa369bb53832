"""Property-based fuzzing of OCPP-J frames against a running gateway: every frame gets the
reply OCPP-J prescribes (or the socket is closed with the right code), and the gateway
lives on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from chargeplane.services.ocpp.protocol import ErrorCode

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


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
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


def test_binary_and_invalid_utf8_frames(ocpp_url: str) -> None:
    with connect(f"{ocpp_url}/FUZZ-2", subprotocols=["ocpp1.6"]) as ws:
        ws.send(b"\x00\xff\xfe binary")
        assert json.loads(ws.recv(timeout=10))[2] == "FormationViolation"
        ws.send(json.dumps([2, "ok", "Heartbeat", {}]))
        assert json.loads(ws.recv(timeout=10))[0] == 3


def test_huge_numbers_and_deep_nesting(ocpp_url: str) -> None:
    with connect(f"{ocpp_url}/FUZZ-2", subprotocols=["ocpp1.6"]) as ws:
        for frame in ('[2, "n1", "StartTransaction", {"connectorId": 1' + "0" * 400 + ', "idTag": "A",'
                      ' "meterStart": 0, "timestamp": "2026-01-01T00:00:00Z"}]',
                      '[2, "n2", "DataTransfer", {"vendorId": "v", "data": ' + "[" * 5000 + "]" * 5000 + "}]"):
            ws.send(frame)
            reply = json.loads(ws.recv(timeout=10))
            assert reply[0] == 4 and reply[2] in ERROR_CODES
        ws.send(json.dumps([2, "ok", "Heartbeat", {}]))
        assert json.loads(ws.recv(timeout=10))[0] == 3


def test_an_oversized_frame_closes_with_1009(ocpp_url: str) -> None:
    with connect(f"{ocpp_url}/FUZZ-2", subprotocols=["ocpp1.6"], max_size=None) as ws:
        ws.send(json.dumps([2, "big", "DataTransfer", {"vendorId": "v", "data": "x" * (2 << 20)}]))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
