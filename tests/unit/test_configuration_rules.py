"""The pure rules of configuration keys: what the gateway changes, where each desired key
stands, and the ConfigurationApplied condition the operator makes of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from chargeplane.emulator.configuration import ChangeResult, Configuration
from chargeplane.operator.status import configuration_condition
from chargeplane.services.ocpp.core.commands import CommandOutcome
from chargeplane.services.ocpp.core.registration import DesiredConfiguration
from chargeplane.services.ocpp.features.configuration.rules import change_answer, desired_state, keys_to_change

BOOT = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def change(value: str, status: str, after_boot_s: float = 1, detail: str | None = None) -> dict[str, Any]:
    return {"value": value, "status": status, "detail": detail, "requested_at": BOOT + timedelta(seconds=after_boot_s)}


def test_only_keys_reported_otherwise_are_changed() -> None:
    desired = {"A": "1", "B": "2", "C": "3", "D": ""}
    reported = {"A": "1", "B": "two", "D": None}
    assert keys_to_change(desired, reported) == {"B": "2", "C": "3", "D": ""}


def test_each_desired_key_gets_a_status_and_the_worst_is_the_overall_one() -> None:
    desired = {"Applied": "1", "Reboot": "30", "Refused": "4", "Unknown": "1", "Offline": "5", "Broken": "1"}
    reported = {"Applied": "1", "Reboot": "30", "Refused": "2", "Offline": "0", "Broken": "0"}
    changes = {"Applied": change("1", "Accepted"), "Reboot": change("30", "RebootRequired"),
               "Refused": change("4", "Rejected"), "Unknown": change("1", "NotSupported"),
               "Broken": change("1", "Failed", detail="no answer (timeout)")}
    state = desired_state(desired, reported, changes, BOOT)
    assert {k["key"]: k["status"] for k in state["keys"]} == {
        "Applied": "Applied", "Reboot": "RebootRequired", "Refused": "Rejected", "Unknown": "NotSupported",
        "Offline": "Pending", "Broken": "Failed"}
    assert state["status"] == "Rejected"
    assert next(k for k in state["keys"] if k["key"] == "Broken")["detail"] == "no answer (timeout)"
    assert desired_state({"Offline": "5", "Reboot": "30"}, reported, changes, BOOT)["status"] == "Pending"
    assert desired_state({"Reboot": "30", "Applied": "1"}, reported, changes, BOOT)["status"] == "RebootRequired"
    assert desired_state({}, reported, changes, BOOT) == {"status": "Applied", "keys": []}


def test_a_reboot_after_the_change_applies_it_and_an_answer_to_another_value_does_not_count() -> None:
    reported = {"Ping": "30"}
    assert desired_state({"Ping": "30"}, reported, {"Ping": change("30", "RebootRequired", -5)},
                         BOOT)["status"] == "Applied"
    # the station rejected 10 once; 30 was never tried
    stale = desired_state({"Ping": "31"}, reported, {"Ping": change("10", "Rejected")}, BOOT)
    assert (stale["status"], stale["keys"][0]["answer"]) == ("Pending", None)


def test_an_outcome_without_an_answer_is_kept_as_failed() -> None:
    assert change_answer(CommandOutcome("result", {"status": "RebootRequired"})) == ("RebootRequired", None)
    assert change_answer(CommandOutcome("timeout", {})) == ("Failed", "no answer (timeout)")
    assert change_answer(CommandOutcome("error", {"errorCode": "NotImplemented", "errorDescription": "no"})) == (
        "Failed", "CALLERROR NotImplemented: no")


class Registration(BaseModel):
    desired_configuration: DesiredConfiguration


@pytest.mark.parametrize(("desired", "error"), [
    ({"AuthorizationKey": "secret"}, "AuthorizationKey is write-only"),
    ({"": "1"}, "at least 1 character"),
    ({"K" * 51: "1"}, "at most 50 characters"),
    ({"K": "v" * 501}, "at most 500 characters"),
    ({f"K{i}": "1" for i in range(201)}, "at most 200 items"),
])
def test_desired_configuration_the_gateway_refuses(desired: dict[str, str], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        Registration(desired_configuration=desired)


def view(status: str, keys: list[tuple[str, str, str]]) -> dict[str, Any]:
    return {"desired": {"status": status, "keys": [{"key": k, "value": v, "status": s} for k, v, s in keys]}}


@pytest.mark.parametrize(("desired", "gateway", "expected"), [
    ({}, None, (True, "NothingToEnforce", "spec.configuration is empty")),
    ({"A": "1"}, None, (False, "NotRegistered", "the gateway does not know this station")),
    ({"A": "2"}, view("Applied", [("A", "1", "Applied")]),
     (False, "Pending", "the gateway has not received this configuration yet")),
    ({"A": "1", "B": "2"}, view("Rejected", [("A", "1", "Rejected"), ("B", "2", "NotSupported")]),
     (False, "Rejected", "the station refused: A (Rejected), B (NotSupported)")),
    ({"A": "1", "B": "2"}, view("Pending", [("A", "1", "Applied"), ("B", "2", "Pending")]),
     (False, "Pending", "waiting for the station to be online and answer: B")),
    ({"A": "1"}, view("RebootRequired", [("A", "1", "RebootRequired")]),
     (False, "RebootRequired", "the station applies these after a reboot: A")),
    ({"B": "2", "A": "1"}, view("Applied", [("A", "1", "Applied"), ("B", "2", "Applied")]),
     (True, "Applied", "the station reports the desired value of A, B")),
])
def test_the_configuration_applied_condition(desired: dict[str, str], gateway: dict[str, Any] | None,
                                             expected: tuple[bool, str, str]) -> None:
    assert configuration_condition(desired, gateway) == expected


def test_the_emulator_takes_a_reboot_required_key_at_once_and_says_so() -> None:
    configuration = Configuration(heartbeat_interval=300, meter_interval=60, connectors=1, transaction_attempts=5,
                                  transaction_retry_interval=5)
    assert configuration.change("WebSocketPingInterval", "20") is ChangeResult.REBOOT_REQUIRED
    assert configuration.describe(["WebSocketPingInterval"])["configurationKey"] == [
        {"key": "WebSocketPingInterval", "readonly": False, "value": "20"}]
    assert configuration.change("WebSocketPingInterval", "soon") is ChangeResult.REJECTED
