"""The station's charging profiles (OCPP 1.6 Smart Charging) and the limits they make.

`ChargingProfiles` keeps what SetChargingProfile installs and ClearChargingProfile removes,
drops a TxProfile when its transaction ends, and combines the profiles as OCPP 1.6 says:
per purpose the valid profile with the highest stack level wins; a TxProfile (of the running
transaction) overrides the TxDefaultProfile, one on the connector overrides one on
connector 0; the connector may use the smaller of that and the ChargePointMaxProfile,
which the charging connectors share; and never more than the hardware gives.
`composite_schedule` is that combination over time, as GetCompositeSchedule returns it;
`power_limit_w` is what the station lets a connector draw right now.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from .protocol import Payload, format_timestamp, parse_timestamp
from .replies import Handlers, Reply

CP_MAX: Final = "ChargePointMaxProfile"
TX_DEFAULT: Final = "TxDefaultProfile"
TX: Final = "TxProfile"
# Converting amperes to watts: 230 V per phase, three phases unless a period says otherwise.
PHASE_VOLTAGE_V: Final = 230.0
DEFAULT_PHASES: Final = 3
RECURRENCE: Final = {"Daily": timedelta(days=1), "Weekly": timedelta(weeks=1)}
MAX_STACK_LEVEL: Final = 10
MAX_PROFILES: Final = 50
MAX_PERIODS: Final = 24


@dataclass(frozen=True, slots=True)
class RunningTransaction:
    transaction_id: int
    started_at: datetime


@dataclass(frozen=True, slots=True)
class InstalledProfile:
    connector_id: int
    # csChargingProfiles as received, with transactionId filled in for a TxProfile
    profile: Payload

    @property
    def purpose(self) -> str:
        return str(self.profile["chargingProfilePurpose"])

    @property
    def stack_level(self) -> int:
        return int(self.profile["stackLevel"])

    def _cycle_start(self, at: datetime, charging_since: datetime) -> datetime | None:
        """When the schedule (or its current cycle) that covers `at` began."""
        schedule = self.profile["chargingSchedule"]
        kind = self.profile["chargingProfileKind"]
        if kind == "Relative" or "startSchedule" not in schedule:
            return charging_since
        start = parse_timestamp(schedule["startSchedule"])
        if kind == "Recurring" and at >= start:
            cycle = RECURRENCE[self.profile["recurrencyKind"]]
            start += cycle * ((at - start) // cycle)
        return start

    def limit_w(self, at: datetime, charging_since: datetime) -> float | None:
        """The limit in watts this profile sets at `at`; None if it sets none then."""
        if "validFrom" in self.profile and at < parse_timestamp(self.profile["validFrom"]):
            return None
        if "validTo" in self.profile and at >= parse_timestamp(self.profile["validTo"]):
            return None
        start = self._cycle_start(at, charging_since)
        if start is None or at < start:
            return None
        schedule = self.profile["chargingSchedule"]
        offset = (at - start).total_seconds()
        if "duration" in schedule and offset >= schedule["duration"]:
            return None
        current = None
        for period in schedule["chargingSchedulePeriod"]:
            if period["startPeriod"] <= offset:
                current = period
        if current is None:
            return None
        if schedule["chargingRateUnit"] == "W":
            return float(current["limit"])
        return float(current["limit"]) * PHASE_VOLTAGE_V * int(current.get("numberPhases", DEFAULT_PHASES))

    def changes(self, start: datetime, end: datetime, charging_since: datetime) -> Iterator[datetime]:
        """The moments within [start, end) at which this profile's limit may change."""
        for bound in ("validFrom", "validTo"):
            if bound in self.profile:
                yield parse_timestamp(self.profile[bound])
        schedule = self.profile["chargingSchedule"]
        offsets = [p["startPeriod"] for p in schedule["chargingSchedulePeriod"]]
        if "duration" in schedule:
            offsets.append(schedule["duration"])
        first = self._cycle_start(start, charging_since)
        if first is None:
            return
        cycle = RECURRENCE.get(self.profile.get("recurrencyKind", "")) if self.profile[
            "chargingProfileKind"] == "Recurring" else None
        cycle_start = first
        while cycle_start < end:
            for offset in offsets:
                yield cycle_start + timedelta(seconds=offset)
            if cycle is None:
                return
            cycle_start += cycle


class ChargingProfiles:
    """One station's installed profiles. `connector_power_w`: what one connector can give."""

    def __init__(self, connector_ids: Iterable[int], connector_power_w: float) -> None:
        self.connector_ids = frozenset(connector_ids)
        self.connector_power_w = connector_power_w
        self.installed: dict[int, InstalledProfile] = {}  # by chargingProfileId
        self.transactions: dict[int, RunningTransaction] = {}  # by connector

    # ----- what the CSMS asks ----------------------------------------------------------------

    def set_profile(self, connector_id: int, profile: Payload) -> str:
        """SetChargingProfile: Accepted or Rejected, as a station that checks what it gets."""
        purpose = profile["chargingProfilePurpose"]
        if connector_id != 0 and connector_id not in self.connector_ids:
            return "Rejected"
        if purpose == CP_MAX and connector_id != 0:
            return "Rejected"
        if not 0 <= profile["stackLevel"] <= MAX_STACK_LEVEL:
            return "Rejected"
        if len(profile["chargingSchedule"]["chargingSchedulePeriod"]) > MAX_PERIODS:
            return "Rejected"
        if purpose == TX:
            running = self.transactions.get(connector_id)
            if running is None or profile.get("transactionId", running.transaction_id) != running.transaction_id:
                return "Rejected"  # OCPP: a TxProfile without its transaction is discarded
            profile = {**profile, "transactionId": running.transaction_id}
        # the same id, or the same connector, purpose and stack level: the new one replaces it
        same_place = (connector_id, purpose, profile["stackLevel"])
        replaced = [key for key, p in self.installed.items()
                    if key == profile["chargingProfileId"] or (p.connector_id, p.purpose, p.stack_level) == same_place]
        if len(self.installed) - len(replaced) >= MAX_PROFILES:
            return "Rejected"
        for key in replaced:
            del self.installed[key]
        self.installed[profile["chargingProfileId"]] = InstalledProfile(connector_id, profile)
        return "Accepted"

    def clear(self, criteria: Mapping[str, Any]) -> str:
        """ClearChargingProfile: by id alone when given, else by every filter given."""
        if "id" in criteria:
            matching = [key for key in self.installed if key == criteria["id"]]
        else:
            matching = [key for key, p in self.installed.items()
                        if criteria.get("connectorId", p.connector_id) == p.connector_id
                        and criteria.get("chargingProfilePurpose", p.purpose) == p.purpose
                        and criteria.get("stackLevel", p.stack_level) == p.stack_level]
        for key in matching:
            del self.installed[key]
        return "Accepted" if matching else "Unknown"

    # ----- what the station tells it ---------------------------------------------------------

    def transaction_started(self, connector_id: int, transaction_id: int, at: datetime) -> None:
        self.transactions[connector_id] = RunningTransaction(transaction_id, at)

    def transaction_ended(self, connector_id: int) -> None:
        """The transaction's TxProfiles end with it."""
        self.transactions.pop(connector_id, None)
        for key in [k for k, p in self.installed.items() if p.purpose == TX and p.connector_id == connector_id]:
            del self.installed[key]

    # ----- limits ----------------------------------------------------------------------------

    def _winner(self, purpose: str, connector_id: int, at: datetime, charging_since: datetime) -> float | None:
        """The limit of the highest-stack valid profile of `purpose` on exactly this connector."""
        candidates = sorted((p for p in self.installed.values()
                             if p.purpose == purpose and p.connector_id == connector_id),
                            key=lambda p: p.stack_level, reverse=True)
        for candidate in candidates:
            limit = candidate.limit_w(at, charging_since)
            if limit is not None:
                return limit
        return None

    def _connector_limit_w(self, connector_id: int, at: datetime, charging_since: datetime) -> float:
        """min(hardware, transaction limit); without the ChargePointMaxProfile, which is shared."""
        tx_limit = self._winner(TX, connector_id, at, charging_since) if connector_id in self.transactions else None
        if tx_limit is None:
            tx_limit = self._winner(TX_DEFAULT, connector_id, at, charging_since)
        if tx_limit is None:
            tx_limit = self._winner(TX_DEFAULT, 0, at, charging_since)
        return min(self.connector_power_w, tx_limit if tx_limit is not None else math.inf)

    def _station_limit_w(self, at: datetime, charging_since: datetime) -> float:
        cp_max = self._winner(CP_MAX, 0, at, charging_since)
        hardware = self.connector_power_w * len(self.connector_ids)
        return min(hardware, cp_max if cp_max is not None else math.inf)

    def _charging_since(self, connector_id: int, now: datetime) -> datetime:
        # A Relative schedule counts from the start of charging; without a transaction it
        # would start now.
        running = self.transactions.get(connector_id)
        return running.started_at if running is not None else now

    def limit_w(self, connector_id: int, at: datetime, now: datetime) -> float:
        """The composite limit of a connector (0: the whole station) at `at`, in watts."""
        since = self._charging_since(connector_id, now)
        station = self._station_limit_w(at, since)
        return station if connector_id == 0 else min(station, self._connector_limit_w(connector_id, at, since))

    def power_limit_w(self, connector_id: int, now: datetime, charging: int) -> float:
        """What the connector may draw now, `charging` connectors sharing the station's limit."""
        since = self._charging_since(connector_id, now)
        share = self._station_limit_w(now, since) / max(charging, 1)
        return min(share, self._connector_limit_w(connector_id, now, since))

    def composite_schedule(self, connector_id: int, duration: int, unit: str | None, now: datetime) -> Payload:
        """The GetCompositeSchedule.conf: the limit from now on, period by period."""
        if connector_id != 0 and connector_id not in self.connector_ids:
            return {"status": "Rejected"}
        unit = unit or "W"
        if now.microsecond:  # periods start at whole seconds; not before now, which a session may have begun
            now = now.replace(microsecond=0) + timedelta(seconds=1)
        end = now + timedelta(seconds=duration)
        since = self._charging_since(connector_id, now)
        offsets = {0} | {math.ceil((moment - now).total_seconds()) for p in self.installed.values()
                         for moment in p.changes(now, end, since) if now < moment < end}
        periods: list[Payload] = []
        for offset in sorted(offsets):
            limit = _in_unit(self.limit_w(connector_id, now + timedelta(seconds=offset), now), unit)
            if not periods or periods[-1]["limit"] != limit:
                periods.append({"startPeriod": offset, "limit": limit})
        return {"status": "Accepted", "connectorId": connector_id, "scheduleStart": format_timestamp(now),
                "chargingSchedule": {"duration": duration, "startSchedule": format_timestamp(now),
                                     "chargingRateUnit": unit, "chargingSchedulePeriod": periods}}


def _in_unit(limit_w: float, unit: str) -> float:
    """A limit in the unit asked for, rounded down to OCPP's 0.1 steps."""
    value = limit_w if unit == "W" else limit_w / (PHASE_VOLTAGE_V * DEFAULT_PHASES)
    return math.floor(value * 10) / 10


# ----- the CSMS's calls (registered in csms_calls.HANDLERS) ----------------------------------------

def csms_calls(profiles: ChargingProfiles, apply_limits: Callable[[], Awaitable[None]]) -> Handlers:
    """`apply_limits`: let the charging connectors draw what the profiles allow now."""

    def on_set_charging_profile(payload: Payload) -> Reply:
        status = profiles.set_profile(payload["connectorId"], payload["csChargingProfiles"])
        return Reply({"status": status}, apply_limits if status == "Accepted" else None)

    def on_clear_charging_profile(payload: Payload) -> Reply:
        status = profiles.clear(payload)
        return Reply({"status": status}, apply_limits if status == "Accepted" else None)

    def on_get_composite_schedule(payload: Payload) -> Reply:
        return Reply(profiles.composite_schedule(
            payload["connectorId"], payload["duration"], payload.get("chargingRateUnit"), datetime.now(UTC)))

    return {"SetChargingProfile": on_set_charging_profile, "ClearChargingProfile": on_clear_charging_profile,
            "GetCompositeSchedule": on_get_composite_schedule}
