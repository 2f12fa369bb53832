"""Status helpers: standard conditions and a station's live view, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chargeplane.operator.status import (
    build_station_status,
    energy_price_range,
    set_condition,
    status_changes,
)

NOW = datetime(2026, 11, 26, 9, 0, 0, 123456, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)


def gateway_view(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "DEPOT-01", "vendor": "ChargePlane", "model": "Emulator", "firmware_version": "1.0",
        "connected": True, "last_boot_at": "2026-11-26T08:59:00+00:00",
        "last_heartbeat_at": "2026-11-26T08:59:58.250000+00:00",
        "connectors": [
            {"connector_id": 0, "status": "Available", "error_code": "NoError"},
            {"connector_id": 1, "status": "Charging", "error_code": "NoError"},
            {"connector_id": 2, "status": "Faulted", "error_code": "GroundFailure"},
        ],
        **overrides,
    }


def test_a_new_condition_gets_its_transition_time_and_generation() -> None:
    (condition,) = set_condition([], "Registered", True, "Registered", "ok", generation=3, now=NOW)
    assert condition == {"type": "Registered", "status": "True", "reason": "Registered", "message": "ok",
                         "lastTransitionTime": "2026-11-26T09:00:00Z", "observedGeneration": 3}


def test_a_condition_keeps_its_transition_time_until_its_status_changes() -> None:
    first = set_condition([], "Connected", False, "Offline", "not connected", generation=1, now=NOW)
    same = set_condition(first, "Connected", False, "Offline", "still not", generation=2, now=LATER)
    assert same[0]["lastTransitionTime"] == "2026-11-26T09:00:00Z"
    assert (same[0]["message"], same[0]["observedGeneration"]) == ("still not", 2)
    flipped = set_condition(same, "Connected", True, "Online", "open", generation=2, now=LATER)
    assert flipped[0]["lastTransitionTime"] == "2026-11-26T09:05:00Z"


def test_other_conditions_stay_in_type_order() -> None:
    conditions = set_condition([], "TariffBound", True, "Bound", "", generation=1, now=NOW)
    conditions = set_condition(conditions, "Registered", True, "Registered", "", generation=1, now=NOW)
    conditions = set_condition(conditions, "TariffBound", False, "TariffNotFound", "", generation=1, now=LATER)
    assert [(c["type"], c["status"]) for c in conditions] == [("Registered", "True"), ("TariffBound", "False")]


def test_an_online_station_shows_its_connectors_heartbeat_and_boot() -> None:
    status = build_station_status(gateway_view(), expected={"vendor": "ChargePlane", "model": "Emulator"},
                                  conditions=[], generation=1, now=NOW)
    assert status["phase"] == "Online"
    assert status["connectorStates"] == "Charging,Faulted"
    assert status["connectors"][1] == {"id": 2, "status": "Faulted", "errorCode": "GroundFailure"}
    assert status["lastHeartbeat"] == "2026-11-26T08:59:58Z"
    assert status["reported"] == {"vendor": "ChargePlane", "model": "Emulator", "firmwareVersion": "1.0"}
    assert {c["type"]: c["status"] for c in status["conditions"]} == {"AsExpected": "True", "Connected": "True"}


def test_an_unexpected_model_is_a_condition() -> None:
    status = build_station_status(gateway_view(model="Other"), expected={"model": "Emulator"}, conditions=[],
                                  generation=1, now=NOW)
    mismatch = next(c for c in status["conditions"] if c["type"] == "AsExpected")
    assert (mismatch["status"], mismatch["reason"]) == ("False", "Mismatch")
    assert mismatch["message"] == "model 'Other', expected 'Emulator'"


def test_a_station_that_never_booted_is_offline_without_a_heartbeat() -> None:
    view = gateway_view(connected=False, last_boot_at=None, last_heartbeat_at=None, connectors=[], vendor=None)
    status = build_station_status(view, expected={}, conditions=[], generation=1, now=NOW)
    assert (status["phase"], status["connectorStates"]) == ("Offline", "")
    assert "lastHeartbeat" not in status and "reported" not in status


def test_a_station_the_gateway_does_not_know_is_unregistered() -> None:
    status = build_station_status(None, expected={}, conditions=[], generation=1, now=NOW)
    assert status["phase"] == "Unregistered"
    assert status["conditions"][0]["reason"] == "NotRegistered"


def test_only_changed_fields_are_written_back() -> None:
    current = build_station_status(gateway_view(), expected={}, conditions=[], generation=1, now=NOW)
    again = build_station_status(gateway_view(), expected={}, conditions=current["conditions"], generation=1,
                                 now=LATER)
    assert status_changes(current, again) == {}
    offline = build_station_status(gateway_view(connected=False), expected={}, conditions=current["conditions"],
                                   generation=1, now=LATER)
    assert set(status_changes(current, offline)) == {"phase", "conditions"}


def test_the_per_kwh_column_shows_a_price_or_a_range() -> None:
    def spec(*prices: float) -> dict[str, Any]:
        return {"elements": [{"priceComponents": [{"type": "ENERGY", "price": p}]} for p in prices]}

    assert energy_price_range(spec(0.3)) == "0.30"
    assert energy_price_range(spec(0.45, 0.29, 0.45)) == "0.29-0.45"
    assert energy_price_range(spec(0.125)) == "0.125"
    assert energy_price_range({"elements": [{"priceComponents": [{"type": "FLAT", "price": 1}]}]}) == ""
