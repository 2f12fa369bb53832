"""What OCPP 1.6 asks of a smart-charging command beyond its JSON schema.

The schema says a stackLevel is an integer; the specification says more: a
ChargePointMaxProfile lives on connector 0, a TxProfile needs a transaction on its
connector, schedule periods start at 0 and ascend, a Recurring profile has a
recurrencyKind, and so on. A command breaking one of these rules is refused before
anything is sent, with the path of the field at fault.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from chargeplane.common.timeutil import parse_ocpp

RECURRENCE_SECONDS = {"Daily": 86_400, "Weekly": 7 * 86_400}
MAX_PHASES = 3
MAX_INTEGER = 2**31 - 1  # OCPP's integers are 32-bit


class RuleBroken(Exception):
    """A command OCPP 1.6 does not allow; `path` names the field, as schema errors do."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path, self.message = path, message


def _count(payload: Mapping[str, Any], name: str, path: str, what: str) -> None:
    """An id, level or number of seconds: 0 up to OCPP's largest integer."""
    if not 0 <= payload.get(name, 0) <= MAX_INTEGER:
        raise RuleBroken(path, f"{what} is 0 to {MAX_INTEGER}")


def _time(profile: Mapping[str, Any], name: str, path: str) -> datetime | None:
    if name not in profile:
        return None
    try:
        return parse_ocpp(profile[name])
    except ValueError as exc:
        raise RuleBroken(path, f"{profile[name]!r} is not a date-time") from exc


def _check_purpose(connector_id: int, profile: Mapping[str, Any], open_transactions: Mapping[int, int]) -> None:
    purpose = profile["chargingProfilePurpose"]
    if purpose == "ChargePointMaxProfile" and connector_id != 0:
        raise RuleBroken("connectorId", "a ChargePointMaxProfile limits the whole station: connectorId must be 0")
    if purpose != "TxProfile":
        if "transactionId" in profile:
            raise RuleBroken("csChargingProfiles/transactionId",
                             f"only a TxProfile names a transaction, not a {purpose}")
        return
    if connector_id == 0:
        raise RuleBroken("connectorId", "a TxProfile applies to one transaction: connectorId must be 1 or more")
    running = open_transactions.get(connector_id)
    if running is None:
        raise RuleBroken("connectorId", f"a TxProfile needs a transaction: connector {connector_id} has none")
    if profile.get("transactionId", running) != running:
        raise RuleBroken("csChargingProfiles/transactionId",
                         f"connector {connector_id} runs transaction {running}, not {profile['transactionId']}")


def _check_kind(profile: Mapping[str, Any]) -> None:
    kind, schedule = profile["chargingProfileKind"], profile["chargingSchedule"]
    if kind == "Recurring" and "recurrencyKind" not in profile:
        raise RuleBroken("csChargingProfiles/recurrencyKind", "a Recurring profile needs a recurrencyKind")
    if kind != "Recurring" and "recurrencyKind" in profile:
        raise RuleBroken("csChargingProfiles/recurrencyKind", f"only a Recurring profile recurs, not a {kind} one")
    if kind in ("Absolute", "Recurring") and "startSchedule" not in schedule:
        raise RuleBroken("csChargingProfiles/chargingSchedule/startSchedule",
                         f"an {kind} schedule needs the moment it starts" if kind == "Absolute"
                         else "a Recurring schedule needs the moment its first cycle starts")
    if kind == "Relative" and "startSchedule" in schedule:
        raise RuleBroken("csChargingProfiles/chargingSchedule/startSchedule",
                         "a Relative schedule starts when charging starts: it has no startSchedule")


def _check_schedule(profile: Mapping[str, Any]) -> None:
    schedule = profile["chargingSchedule"]
    where = "csChargingProfiles/chargingSchedule"
    _time(schedule, "startSchedule", f"{where}/startSchedule")
    duration = schedule.get("duration")
    _count(schedule, "duration", f"{where}/duration", "a duration in seconds")
    if duration == 0:
        raise RuleBroken(f"{where}/duration", "a schedule's duration is a positive number of seconds")
    cycle = RECURRENCE_SECONDS.get(profile.get("recurrencyKind", ""))
    if cycle is not None and duration is not None and duration > cycle:
        raise RuleBroken(f"{where}/duration", f"a {profile['recurrencyKind']} schedule lasts at most {cycle} s")
    if schedule.get("minChargingRate", 0) < 0:
        raise RuleBroken(f"{where}/minChargingRate", "a charging rate cannot be negative")
    periods = schedule["chargingSchedulePeriod"]
    if not periods:
        raise RuleBroken(f"{where}/chargingSchedulePeriod", "a schedule needs at least one period")
    previous = -1
    for index, period in enumerate(periods):
        path = f"{where}/chargingSchedulePeriod/{index}"
        start = period["startPeriod"]
        _count(period, "startPeriod", f"{path}/startPeriod", "a period's start in seconds")
        if index == 0 and start != 0:
            raise RuleBroken(f"{path}/startPeriod", "the first period starts at 0 (the start of the schedule)")
        if start <= previous:
            raise RuleBroken(f"{path}/startPeriod", f"periods must start in ascending order: {start} after {previous}")
        if duration is not None and start >= duration:
            raise RuleBroken(f"{path}/startPeriod", f"starts at {start} s, after the schedule's {duration} s ended")
        if cycle is not None and start >= cycle:
            raise RuleBroken(f"{path}/startPeriod", f"starts at {start} s, after a {profile['recurrencyKind']} cycle")
        if period["limit"] < 0:
            raise RuleBroken(f"{path}/limit", "a limit cannot be negative")
        if not 1 <= period.get("numberPhases", MAX_PHASES) <= MAX_PHASES:
            raise RuleBroken(f"{path}/numberPhases", f"a station has 1 to {MAX_PHASES} phases")
        previous = start


def check_set_charging_profile(payload: Mapping[str, Any], open_transactions: Mapping[int, int]) -> None:
    """`open_transactions`: connector id -> the transaction running on it."""
    connector_id, profile = payload["connectorId"], payload["csChargingProfiles"]
    _count(payload, "connectorId", "connectorId", "a connector id (0: the whole station)")
    _count(profile, "chargingProfileId", "csChargingProfiles/chargingProfileId", "a charging profile id")
    _count(profile, "stackLevel", "csChargingProfiles/stackLevel", "a stack level")
    _check_purpose(connector_id, profile, open_transactions)
    _check_kind(profile)
    valid_from = _time(profile, "validFrom", "csChargingProfiles/validFrom")
    valid_to = _time(profile, "validTo", "csChargingProfiles/validTo")
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        raise RuleBroken("csChargingProfiles/validTo", "a profile's validTo comes after its validFrom")
    _check_schedule(profile)


def check_clear_charging_profile(payload: Mapping[str, Any], _: Mapping[int, int]) -> None:
    _count(payload, "id", "id", "a charging profile id")
    _count(payload, "connectorId", "connectorId", "a connector id (0: the whole station)")
    _count(payload, "stackLevel", "stackLevel", "a stack level")


def check_get_composite_schedule(payload: Mapping[str, Any], _: Mapping[int, int]) -> None:
    _count(payload, "connectorId", "connectorId", "a connector id (0: the whole station)")
    _count(payload, "duration", "duration", "a duration in seconds")
    if payload["duration"] == 0:
        raise RuleBroken("duration", "a composite schedule covers a positive number of seconds")


RULES: dict[str, Callable[[Mapping[str, Any], Mapping[int, int]], None]] = {
    "SetChargingProfile": check_set_charging_profile,
    "ClearChargingProfile": check_clear_charging_profile,
    "GetCompositeSchedule": check_get_composite_schedule,
}
