"""Smart charging's pure parts: OCPP 1.6's rules for a profile, the emulator's composite
schedule (stack levels, validity, recurrence, the ChargePointMax shared by the connectors),
a site's shares, and the operator's ChargePointMaxProfile (which the gateway's rules accept)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chargeplane.emulator.smart_charging import ChargingProfiles
from chargeplane.operator.builders import CHARGING_LIMIT_PROFILE_ID, build_charging_limit
from chargeplane.services.ocpp.features.smart_charging.rules import (
    RuleBroken,
    check_clear_charging_profile,
    check_get_composite_schedule,
    check_set_charging_profile,
)
from chargeplane.services.ocpp.features.smart_charging.sites import share_w, site_share_command

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def profile(purpose: str = "ChargePointMaxProfile", *, id_: int = 1, stack: int = 0, kind: str = "Absolute",
            periods: tuple[tuple[int, float], ...] = ((0, 7000),), unit: str = "W", start: datetime | None = NOW,
            **extra: Any) -> dict[str, Any]:
    schedule: dict[str, Any] = {"chargingRateUnit": unit, "chargingSchedulePeriod": [
        {"startPeriod": offset, "limit": limit} for offset, limit in periods]}
    if start is not None:
        schedule["startSchedule"] = z(start)
    return {"chargingProfileId": id_, "stackLevel": stack, "chargingProfilePurpose": purpose,
            "chargingProfileKind": kind, "chargingSchedule": schedule, **extra}


# ----- the gateway's rules -----------------------------------------------------------------------

def test_valid_profiles_of_every_purpose_pass() -> None:
    check_set_charging_profile({"connectorId": 0, "csChargingProfiles": profile()}, {})
    check_set_charging_profile({"connectorId": 0, "csChargingProfiles": profile(
        "TxDefaultProfile", kind="Recurring", recurrencyKind="Daily", periods=((0, 11000), (3600 * 18, 3000)))}, {})
    check_set_charging_profile({"connectorId": 2, "csChargingProfiles": profile(
        "TxProfile", kind="Relative", start=None, transactionId=7)}, {2: 7})
    check_clear_charging_profile({}, {})
    check_get_composite_schedule({"connectorId": 1, "duration": 60}, {})


BROKEN = [
    ({"connectorId": 2, "csChargingProfiles": profile("TxProfile", kind="Relative", start=None, transactionId=8)},
     "csChargingProfiles/transactionId", "runs transaction 7, not 8"),
    ({"connectorId": 0, "csChargingProfiles": profile("TxProfile", kind="Relative", start=None)},
     "connectorId", "must be 1 or more"),
    ({"connectorId": 1, "csChargingProfiles": profile("TxDefaultProfile", transactionId=7)},
     "csChargingProfiles/transactionId", "only a TxProfile"),
    ({"connectorId": 0, "csChargingProfiles": profile(kind="Relative")},
     "csChargingProfiles/chargingSchedule/startSchedule", "no startSchedule"),
    ({"connectorId": 0, "csChargingProfiles": profile(start=None)},
     "csChargingProfiles/chargingSchedule/startSchedule", "needs the moment it starts"),
    ({"connectorId": 0, "csChargingProfiles": profile(recurrencyKind="Daily")},
     "csChargingProfiles/recurrencyKind", "only a Recurring profile recurs"),
    ({"connectorId": 0, "csChargingProfiles": profile(kind="Recurring", recurrencyKind="Daily",
                                                       periods=((0, 1), (90_000, 2)))},
     "csChargingProfiles/chargingSchedule/chargingSchedulePeriod/1/startPeriod", "after a Daily cycle"),
    ({"connectorId": 0, "csChargingProfiles": profile(periods=((0, -1),))},
     "csChargingProfiles/chargingSchedule/chargingSchedulePeriod/0/limit", "cannot be negative"),
    ({"connectorId": 0, "csChargingProfiles": profile(periods=((0, 1),)) | {"validFrom": "soon"}},
     "csChargingProfiles/validFrom", "not a date-time"),
    ({"connectorId": 0, "csChargingProfiles": profile(stack=-1)}, "csChargingProfiles/stackLevel", "0 to"),
    ({"connectorId": 0, "csChargingProfiles": profile(id_=2**31)}, "csChargingProfiles/chargingProfileId", "0 to"),
]


@pytest.mark.parametrize(("payload", "path", "message"), BROKEN, ids=[case[2] for case in BROKEN])
def test_a_profile_breaking_a_rule_names_the_field(payload: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(RuleBroken) as broken:
        check_set_charging_profile(payload, {2: 7})
    assert broken.value.path == path and message in broken.value.message


def test_phases_and_durations_are_checked() -> None:
    timed = profile(periods=((0, 1), (60, 2)))
    timed["chargingSchedule"]["duration"] = 60
    with pytest.raises(RuleBroken, match="after the schedule's 60 s ended"):
        check_set_charging_profile({"connectorId": 0, "csChargingProfiles": timed}, {})
    three_phases = profile()
    three_phases["chargingSchedule"]["chargingSchedulePeriod"][0]["numberPhases"] = 4
    with pytest.raises(RuleBroken, match="1 to 3 phases"):
        check_set_charging_profile({"connectorId": 0, "csChargingProfiles": three_phases}, {})
    with pytest.raises(RuleBroken, match="positive number of seconds"):
        check_get_composite_schedule({"connectorId": 0, "duration": 0}, {})


# ----- the emulator's composite schedule ---------------------------------------------------------

def station(connectors: int = 2) -> ChargingProfiles:
    return ChargingProfiles(range(1, connectors + 1), connector_power_w=11_000)


def periods(profiles: ChargingProfiles, connector_id: int, duration: int, unit: str = "W") -> list[tuple[int, float]]:
    schedule = profiles.composite_schedule(connector_id, duration, unit, NOW)["chargingSchedule"]
    return [(p["startPeriod"], p["limit"]) for p in schedule["chargingSchedulePeriod"]]


def test_the_highest_valid_stack_level_wins_and_the_lower_one_takes_over_when_it_ends() -> None:
    profiles = station()
    assert profiles.set_profile(0, profile(id_=1, stack=0, periods=((0, 9000),))) == "Accepted"
    assert profiles.set_profile(0, profile(id_=2, stack=5, periods=((0, 4000),),
                                           validTo=z(NOW + timedelta(minutes=10)))) == "Accepted"
    assert periods(profiles, 0, 3600) == [(0, 4000), (600, 9000)]
    # the same connector, purpose and stack level replaces a profile; so does the same id
    assert profiles.set_profile(0, profile(id_=3, stack=5, periods=((0, 5000),))) == "Accepted"
    assert sorted(profiles.installed) == [1, 3]
    assert periods(profiles, 0, 3600) == [(0, 5000)]


def test_the_connector_gets_the_least_of_its_tx_limit_and_the_station_limit() -> None:
    profiles = station()
    profiles.set_profile(0, profile(periods=((0, 7000),)))
    profiles.set_profile(0, profile("TxDefaultProfile", id_=2, periods=((0, 6000), (1800, 10000))))
    assert periods(profiles, 1, 3600) == [(0, 6000), (1800, 7000)]
    # a TxDefaultProfile on the connector overrides the one on connector 0
    profiles.set_profile(1, profile("TxDefaultProfile", id_=3, periods=((0, 3000),)))
    assert periods(profiles, 1, 3600) == [(0, 3000)]
    assert periods(profiles, 2, 3600) == [(0, 6000), (1800, 7000)]
    # a TxProfile overrides both, for its transaction only, and goes with it
    assert profiles.set_profile(2, profile("TxProfile", id_=4, kind="Relative", start=None)) == "Rejected"
    profiles.transaction_started(2, 42, NOW - timedelta(minutes=5))
    assert profiles.set_profile(2, profile("TxProfile", id_=4, kind="Relative", start=None,
                                           periods=((0, 2000), (600, 5000)))) == "Accepted"
    assert periods(profiles, 2, 3600) == [(0, 2000), (300, 5000)]  # relative to the session's start
    profiles.transaction_ended(2)
    assert 4 not in profiles.installed
    assert periods(profiles, 2, 3600) == [(0, 6000), (1800, 7000)]


def test_a_recurring_profile_repeats_and_amperes_are_converted() -> None:
    profiles = station()
    midnight = NOW.replace(hour=0)
    profiles.set_profile(0, profile(kind="Recurring", recurrencyKind="Daily", start=midnight - timedelta(days=3),
                                    unit="A", periods=((0, 30), (18 * 3600, 16))))
    # 12:00 now: 30 A until 18:00, 16 A until midnight, 30 A again (3 x 230 V)
    assert periods(profiles, 0, 24 * 3600) == [(0, 20700), (6 * 3600, 11040), (12 * 3600, 20700)]
    assert periods(profiles, 0, 24 * 3600, "A") == [(0, 30), (6 * 3600, 16), (12 * 3600, 30)]


def test_charging_connectors_share_the_station_limit() -> None:
    profiles = station()
    profiles.set_profile(0, profile(periods=((0, 8000),)))
    assert profiles.power_limit_w(1, NOW, charging=1) == 8000
    assert profiles.power_limit_w(1, NOW, charging=2) == 4000
    assert profiles.clear({"chargingProfilePurpose": "ChargePointMaxProfile"}) == "Accepted"
    assert profiles.clear({"id": 1}) == "Unknown"
    assert profiles.power_limit_w(1, NOW, charging=2) == 11000  # the hardware's own


def test_a_station_rejects_what_it_cannot_hold() -> None:
    profiles = station()
    assert profiles.set_profile(1, profile()) == "Rejected"  # ChargePointMax on a connector
    assert profiles.set_profile(3, profile("TxDefaultProfile")) == "Rejected"  # no connector 3
    assert profiles.set_profile(0, profile(stack=11)) == "Rejected"  # above ChargeProfileMaxStackLevel
    assert profiles.composite_schedule(3, 60, None, NOW) == {"status": "Rejected"}


# ----- sites and the operator's limit ------------------------------------------------------------

def test_a_site_is_shared_equally_in_whole_watts_and_its_profiles_keep_the_rules() -> None:
    assert [share_w(10_000, n) for n in (0, 1, 3)] == [10_000, 10_000, 3333]
    command = site_share_command(2, 77, 3333)
    check_set_charging_profile(command, {2: 77})
    assert command["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 3333}]


def test_the_crd_limit_is_a_charge_point_max_profile_the_gateway_accepts() -> None:
    assert build_charging_limit({"stationId": "S"}) is None
    command = build_charging_limit({"stationId": "S", "chargingLimit": {"maxPowerW": 7400}})
    assert command is not None
    check_set_charging_profile(command, {})
    assert command["connectorId"] == 0
    assert command["csChargingProfiles"]["chargingProfileId"] == CHARGING_LIMIT_PROFILE_ID
    profiles = station()
    assert profiles.set_profile(0, command["csChargingProfiles"]) == "Accepted"
    assert profiles.limit_w(0, NOW, NOW) == 7400
