"""What a benchmark station says: boot, status, then a realistic loop of heartbeats,
charging sessions and the MeterValues an AC or DC station sends while it charges.

The mix per session (18 CALLs): Heartbeat, StatusNotification Preparing,
StartTransaction, StatusNotification Charging, 12 MeterValues, StopTransaction,
StatusNotification Available. An AC station samples energy, power, current and voltage
on three phases and the EV's SoC (9 sampled values, the emulator's meter model); a DC
station energy, power, DC current and voltage and SoC (5).
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from random import Random
from typing import Any, Final

import orjson

from chargeplane.emulator.meter import (
    CURRENT,
    POWER,
    STATE_OF_CHARGE,
    SUPPORTED_MEASURANDS,
    VOLTAGE,
    EnergyMeter,
)
from chargeplane.emulator.protocol import format_timestamp

METER_VALUES_PER_SESSION: Final = 12
ID_TAG: Final = "BENCH-TAG"
# the scripts a station runs once booted
MIX: Final = "mix"
METER_ONLY: Final = "meter-only"  # telemetry ingest: one open session, MeterValues only

Payload = dict[str, Any]


def _dc_sampled_values(meter: EnergyMeter, context: str) -> list[Payload]:
    voltage = 400.0
    return [
        meter.energy_sample(context),
        {"value": f"{meter.power_w:.0f}", "context": context, "measurand": POWER, "location": "Outlet", "unit": "W"},
        {"value": f"{meter.power_w / voltage:.1f}", "context": context, "measurand": CURRENT, "location": "Outlet",
         "unit": "A"},
        {"value": f"{voltage:.1f}", "context": context, "measurand": VOLTAGE, "location": "Outlet", "unit": "V"},
        {"value": f"{meter.soc_percent:.0f}", "context": context, "measurand": STATE_OF_CHARGE, "location": "EV",
         "unit": "Percent"},
    ]


@functools.lru_cache(maxsize=4)
def _second_prefix(second: int) -> str:
    """`2026-11-26T08:00:00.`, formatted once a second rather than once a message."""
    return format_timestamp(datetime.fromtimestamp(second, UTC))[:-4]


def _format_ms(epoch_ms: int) -> str:
    second, ms = divmod(epoch_ms, 1000)
    return f"{_second_prefix(second)}{ms:03d}Z"


class StationTraffic:
    """The CALLs of one station, one at a time; `answered` feeds each CALLRESULT back."""

    def __init__(self, station_id: str, index: int, script: str = MIX) -> None:
        self.station_id = station_id
        self.dc = index % 3 == 2  # one station in three is a DC fast charger
        self.rng = Random(index)
        self.meter = EnergyMeter(energy_wh=self.rng.uniform(0, 5e6))
        self._ids = itertools.count(1)
        self._last_ms = 0
        self.transaction_id: int | None = None
        self._script: Iterator[tuple[str, Payload]] = iter(())
        self._script_name = ""
        self.use_script(script)

    def use_script(self, script: str) -> None:
        """Switch scripts; the same script carries on where it was, so that from one phase
        to the next the stations stay spread over their sessions (a restart would put them
        all at a session's start, and a short phase would see no StopTransaction at all)."""
        if script != self._script_name:
            self._script_name = script
            self._script = self._meter_only() if script == METER_ONLY else self._mix()

    def timestamp(self) -> str:
        """Now, but never the same millisecond twice for this station: telemetry keys
        samples by time, and two MeterValues in one millisecond would be one."""
        self._last_ms = max(int(time.time() * 1000), self._last_ms + 1)
        return _format_ms(self._last_ms)

    def frame(self, action: str, payload: Payload) -> tuple[str, bytes]:
        unique_id = f"{next(self._ids)}"
        return unique_id, orjson.dumps([2, unique_id, action, payload])

    def boot(self) -> tuple[str, Payload]:
        return "BootNotification", {"chargePointVendor": "ChargePlane", "chargePointModel": "DC-150" if self.dc
                                    else "AC-22", "chargePointSerialNumber": self.station_id,
                                    "firmwareVersion": "bench-1"}

    def status(self, status: str) -> tuple[str, Payload]:
        return "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": status,
                                      "timestamp": self.timestamp()}

    def next_call(self) -> tuple[str, Payload]:
        return next(self._script)

    def answered(self, action: str, payload: Payload) -> None:
        if action == "StartTransaction":
            self.transaction_id = int(payload.get("transactionId", 0))

    # scripts -------------------------------------------------------------------------------
    def _start(self) -> tuple[str, Payload]:
        now = time.monotonic()
        self.meter.start_flow(150_000.0 if self.dc else 22_000.0, self.rng.uniform(10, 60), now)
        return "StartTransaction", {"connectorId": 1, "idTag": ID_TAG, "meterStart": self.meter.register_wh,
                                    "timestamp": self.timestamp()}

    def _meter_values(self) -> tuple[str, Payload]:
        self.meter.advance(time.monotonic())
        context = "Sample.Periodic"
        values = (_dc_sampled_values(self.meter, context) if self.dc
                  else self.meter.sampled_values(SUPPORTED_MEASURANDS, context, self.rng))
        payload: Payload = {"connectorId": 1, "meterValue": [{"timestamp": self.timestamp(), "sampledValue": values}]}
        if self.transaction_id is not None:
            payload["transactionId"] = self.transaction_id
        return "MeterValues", payload

    def _stop(self) -> tuple[str, Payload]:
        self.meter.stop_flow(time.monotonic())
        payload = {"transactionId": self.transaction_id or 0, "meterStop": self.meter.register_wh,
                   "timestamp": self.timestamp(), "reason": "Local", "idTag": ID_TAG}
        self.transaction_id = None
        return "StopTransaction", payload

    def _mix(self) -> Iterator[tuple[str, Payload]]:
        # The first session of a run is cut short by a random number of MeterValues, so
        # the stations' sessions end spread over the run rather than all at once.
        shorter = self.rng.randrange(METER_VALUES_PER_SESSION)
        while True:
            yield "Heartbeat", {}
            yield self.status("Preparing")
            yield self._start()
            yield self.status("Charging")
            for _ in range(METER_VALUES_PER_SESSION - shorter):
                yield self._meter_values()
            shorter = 0
            yield self._stop()
            yield self.status("Available")

    def _meter_only(self) -> Iterator[tuple[str, Payload]]:
        if self.transaction_id is None:
            yield self._start()
        while True:
            yield self._meter_values()

