"""The energy meter of one connector: a register that advances by power x elapsed time, and
the OCPP 1.6 sampled values it reports (energy, power, per-phase current and voltage, SoC).

The model is a three-phase AC charger: the power is split evenly over the phases, the phase
voltages wobble slightly around 230 V, and each phase current follows from P / (3 V).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from random import Random
from typing import Final

from .protocol import Payload

ENERGY_REGISTER: Final = "Energy.Active.Import.Register"
POWER: Final = "Power.Active.Import"
CURRENT: Final = "Current.Import"
VOLTAGE: Final = "Voltage"
STATE_OF_CHARGE: Final = "SoC"

SUPPORTED_MEASURANDS: Final = (ENERGY_REGISTER, POWER, CURRENT, VOLTAGE, STATE_OF_CHARGE)

NOMINAL_PHASE_VOLTAGE_V: Final = 230.0
# Grid voltage typically stays within a couple of percent of nominal.
VOLTAGE_WOBBLE_V: Final = 3.0
PHASES: Final = ("L1", "L2", "L3")
# A mid-size EV battery: gives a SoC that rises visibly but plausibly during a session.
EV_BATTERY_WH: Final = 60_000.0


@dataclass(slots=True)
class EnergyMeter:
    energy_wh: float = 0.0
    # What flows right now; 0 while idle or once the EV battery is full.
    power_w: float = 0.0
    soc_percent: float = 0.0
    # Monotonic clock reading of the last advance(); energy is integrated lazily from it so no
    # task has to tick while nobody looks at the meter.
    updated_at: float = 0.0

    @property
    def register_wh(self) -> int:
        """The register in whole Wh, as meterStart / meterStop carry it. Flooring keeps the
        reported register monotonic."""
        return int(self.energy_wh)

    def start_flow(self, power_w: float, soc_percent: float, now: float) -> None:
        self.advance(now)
        self.power_w = power_w
        self.soc_percent = soc_percent

    def set_power(self, power_w: float, now: float) -> None:
        """Change the draw mid-session; a full battery draws nothing whatever is asked."""
        self.advance(now)
        self.power_w = power_w if self.soc_percent < 100.0 else 0.0

    def stop_flow(self, now: float) -> None:
        self.advance(now)
        self.power_w = 0.0

    def advance(self, now: float) -> None:
        elapsed = now - self.updated_at
        self.updated_at = now
        if self.power_w <= 0.0 or elapsed <= 0.0:
            return
        delivered_wh = self.power_w * elapsed / 3600.0
        self.energy_wh += delivered_wh
        self.soc_percent = min(100.0, self.soc_percent + delivered_wh / EV_BATTERY_WH * 100.0)
        if self.soc_percent >= 100.0:
            # A full EV stops drawing current; the register must stop rising with it.
            self.power_w = 0.0

    def energy_sample(self, context: str) -> Payload:
        return {
            "value": str(self.register_wh),
            "context": context,
            "measurand": ENERGY_REGISTER,
            "location": "Outlet",
            "unit": "Wh",
        }

    def sampled_values(self, measurands: Collection[str], context: str, rng: Random) -> list[Payload]:
        """The sampled values for one MeterValues entry, limited to `measurands` (the
        MeterValuesSampledData configuration key)."""
        values: list[Payload] = []
        if ENERGY_REGISTER in measurands:
            values.append(self.energy_sample(context))
        if POWER in measurands:
            values.append(
                {
                    "value": f"{self.power_w:.0f}",
                    "context": context,
                    "measurand": POWER,
                    "location": "Outlet",
                    "unit": "W",
                }
            )
        if CURRENT in measurands or VOLTAGE in measurands:
            for phase in PHASES:
                voltage = NOMINAL_PHASE_VOLTAGE_V + rng.uniform(-VOLTAGE_WOBBLE_V, VOLTAGE_WOBBLE_V)
                if CURRENT in measurands:
                    current = self.power_w / (len(PHASES) * voltage)
                    values.append(
                        {
                            "value": f"{current:.2f}",
                            "context": context,
                            "measurand": CURRENT,
                            "phase": phase,
                            "location": "Outlet",
                            "unit": "A",
                        }
                    )
                if VOLTAGE in measurands:
                    values.append(
                        {
                            "value": f"{voltage:.1f}",
                            "context": context,
                            "measurand": VOLTAGE,
                            "phase": f"{phase}-N",
                            "location": "Outlet",
                            "unit": "V",
                        }
                    )
        if STATE_OF_CHARGE in measurands:
            values.append(
                {
                    "value": f"{self.soc_percent:.0f}",
                    "context": context,
                    "measurand": STATE_OF_CHARGE,
                    "location": "EV",
                    "unit": "Percent",
                }
            )
        return values
