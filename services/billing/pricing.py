"""Pure pricing engine: prices one finished charging session with an OCPI 2.2.1-style tariff.

No I/O, Decimal only. Semantics, and the choices made where OCPI leaves room:

* Timeline: (started_at, meter_start_wh), the samples strictly inside the session (sorted; for
  equal timestamps the last one given wins), then (stopped_at, meter_stop_wh). An interval whose
  register rose is charging time, otherwise parking time. A register that goes backwards (reset,
  glitch) gives that interval zero energy, never negative, so ``Bill.energy_wh`` is the sum of
  the rises and may differ from meter_stop - meter_start.
* Intervals are split at local midnight, every restriction start_time/end_time (tariff time
  zone, DST-aware), every min/max_duration instant and wherever the (linearly spread) energy
  crosses a min/max_kwh threshold. Restrictions are then constant within a piece, so they are
  evaluated at its midpoint, which sidesteps boundary rounding.
* Per piece and dimension the first element whose restrictions hold and that has a component of
  that dimension prices it. ENERGY covers all energy, TIME charging time, PARKING_TIME parking
  time. A dimension no element covers is free. FLAT is billed once, from the first element with
  a FLAT component whose restrictions hold at session start (0 kWh consumed, 0 s elapsed).
* Restrictions: start_time inclusive, end_time exclusive, end <= start wraps past midnight and
  end 00:00 means "until the end of the day"; dates are local, start inclusive, end exclusive;
  min_* inclusive, max_* exclusive.
* step_size: only the element last active for a dimension has its total quantity (Wh or s)
  rounded up to a multiple of its step_size; other elements bill the exact quantity.
* Money: quantities kept to 6 decimals (kWh, h); a line's amount is its displayed quantity times
  unit price, rounded HALF_UP to the currency's minor unit, so every line can be re-checked;
  tax = round(excl * tax_rate), incl = excl + tax.
* The tariff's valid_from/valid_to do not stop pricing (the caller chose the tariff); callers
  can check ``Tariff.is_valid_at``.
"""

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

__all__ = [
    "DEFAULT_TARIFF_JSON", "Bill", "DayOfWeek", "DimensionType", "LineItem", "MeterSample",
    "PriceComponent", "SessionUsage", "Tariff", "TariffElement", "TariffRestrictions",
    "default_tariff", "price_session",
]


class DimensionType(StrEnum):
    ENERGY = "ENERGY"
    TIME = "TIME"
    PARKING_TIME = "PARKING_TIME"
    FLAT = "FLAT"


class DayOfWeek(StrEnum):
    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"
    SUNDAY = "SUNDAY"


_WEEKDAYS = list(DayOfWeek)  # indexed by date.weekday()
_DIM_ORDER = list(DimensionType)
# dimension -> (unit, base units per unit): base is Wh for energy, seconds for time
_UNITS = {DimensionType.ENERGY: ("kWh", Decimal(1000)), DimensionType.TIME: ("h", Decimal(3600)),
          DimensionType.PARKING_TIME: ("h", Decimal(3600)), DimensionType.FLAT: ("session", Decimal(1))}
_QTY = Decimal("0.000001")
_MINOR_UNITS = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "BHD": 3, "JOD": 3, "KWD": 3, "OMR": 3, "TND": 3}
_HHMM = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


def _require_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")


def _seconds(delta: timedelta) -> Decimal:
    return Decimal(delta // timedelta(microseconds=1)) / 1_000_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriceComponent(_Model):
    type: DimensionType
    price: Decimal = Field(ge=0)
    step_size: int = Field(default=1, ge=1)


class TariffRestrictions(_Model):
    start_time: _HHMM | None = None
    end_time: _HHMM | None = None
    start_date: date | None = None
    end_date: date | None = None
    min_kwh: Decimal | None = Field(default=None, ge=0)
    max_kwh: Decimal | None = Field(default=None, ge=0)
    min_duration: int | None = Field(default=None, ge=0)
    max_duration: int | None = Field(default=None, ge=0)
    day_of_week: list[DayOfWeek] | None = None

    def holds(self, local: datetime, consumed_wh: Decimal, elapsed_s: Decimal) -> bool:
        return (
            self._in_time_window(local.time())
            and (self.start_date is None or local.date() >= self.start_date)
            and (self.end_date is None or local.date() < self.end_date)
            and (self.day_of_week is None or _WEEKDAYS[local.weekday()] in self.day_of_week)
            and (self.min_kwh is None or consumed_wh >= self.min_kwh * 1000)
            and (self.max_kwh is None or consumed_wh < self.max_kwh * 1000)
            and (self.min_duration is None or elapsed_s >= self.min_duration)
            and (self.max_duration is None or elapsed_s < self.max_duration)
        )

    def _in_time_window(self, now: time) -> bool:
        start = time.fromisoformat(self.start_time) if self.start_time else None
        end = time.fromisoformat(self.end_time) if self.end_time else None
        if end == time(0):  # OCPI: end 00:00 = end of day
            end = None
        if start is None or end is None:
            return (start is None or now >= start) and (end is None or now < end)
        return start <= now < end if start < end else (now >= start or now < end)


class TariffElement(_Model):
    price_components: list[PriceComponent] = Field(min_length=1)
    restrictions: TariffRestrictions | None = None

    def component(self, dim: DimensionType) -> PriceComponent | None:
        return next((c for c in self.price_components if c.type == dim), None)


class Tariff(_Model):
    id: str = Field(min_length=1)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    tax_rate: Decimal = Field(ge=0, lt=1)
    time_zone: str = "UTC"
    elements: list[TariffElement] = Field(min_length=1)
    valid_from: datetime | None = None
    valid_to: datetime | None = None

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _validity_window(self) -> "Tariff":
        for when in (self.valid_from, self.valid_to):
            if when is not None:
                _require_aware(when, "valid_from/valid_to")
        if self.valid_from and self.valid_to and self.valid_from >= self.valid_to:
            raise ValueError("valid_from must be before valid_to")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def is_valid_at(self, when: datetime) -> bool:
        _require_aware(when, "when")
        return (self.valid_from is None or self.valid_from <= when) and (
            self.valid_to is None or when < self.valid_to)

    def active_element(self, dim: DimensionType, local: datetime, consumed_wh: Decimal,
                       elapsed_s: Decimal) -> int | None:
        for index, element in enumerate(self.elements):
            if element.component(dim) and (
                    element.restrictions is None
                    or element.restrictions.holds(local, consumed_wh, elapsed_s)):
                return index
        return None


@dataclass(frozen=True, slots=True)
class MeterSample:
    at: datetime
    energy_wh: Decimal

    def __post_init__(self) -> None:
        _require_aware(self.at, "MeterSample.at")
        object.__setattr__(self, "energy_wh", Decimal(str(self.energy_wh)))


@dataclass(frozen=True, slots=True)
class SessionUsage:
    started_at: datetime
    stopped_at: datetime
    meter_start_wh: int
    meter_stop_wh: int
    samples: Sequence[MeterSample] = ()

    def __post_init__(self) -> None:
        _require_aware(self.started_at, "started_at")
        _require_aware(self.stopped_at, "stopped_at")
        if self.stopped_at < self.started_at:
            raise ValueError("stopped_at is before started_at")


@dataclass(frozen=True, slots=True)
class LineItem:
    dimension: DimensionType
    element_index: int
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal

    def to_json(self) -> dict[str, Any]:
        return {"dimension": self.dimension.value, "element_index": self.element_index,
                "quantity": str(self.quantity), "unit": self.unit,
                "unit_price": str(self.unit_price), "amount": str(self.amount)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "LineItem":
        return cls(DimensionType(data["dimension"]), int(data["element_index"]), Decimal(data["quantity"]),
                   data["unit"], Decimal(data["unit_price"]), Decimal(data["amount"]))


@dataclass(frozen=True, slots=True)
class Bill:
    tariff_id: str
    currency: str
    energy_wh: int
    charging_seconds: int
    parking_seconds: int
    line_items: list[LineItem]
    amount_excl_tax: Decimal
    tax_amount: Decimal
    amount_incl_tax: Decimal

    def to_json(self) -> dict[str, Any]:
        return {"tariff_id": self.tariff_id, "currency": self.currency, "energy_wh": self.energy_wh,
                "charging_seconds": self.charging_seconds, "parking_seconds": self.parking_seconds,
                "line_items": [item.to_json() for item in self.line_items],
                "amount_excl_tax": str(self.amount_excl_tax), "tax_amount": str(self.tax_amount),
                "amount_incl_tax": str(self.amount_incl_tax)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Bill":
        return cls(data["tariff_id"], data["currency"], int(data["energy_wh"]),
                   int(data["charging_seconds"]), int(data["parking_seconds"]),
                   [LineItem.from_json(item) for item in data["line_items"]],
                   Decimal(data["amount_excl_tax"]), Decimal(data["tax_amount"]),
                   Decimal(data["amount_incl_tax"]))


def _intervals(usage: SessionUsage) -> Iterator[tuple[datetime, datetime, Decimal]]:
    """(start, end, energy_wh >= 0) in UTC; UTC so that datetime subtraction is real elapsed time."""
    start, stop = usage.started_at.astimezone(UTC), usage.stopped_at.astimezone(UTC)
    inside: dict[datetime, Decimal] = {}
    # sorted() is stable, so on equal timestamps the sample given last wins
    for sample in sorted(usage.samples, key=lambda s: s.at.astimezone(UTC)):
        if start < sample.at < stop:
            inside[sample.at.astimezone(UTC)] = sample.energy_wh
    points = [(start, Decimal(usage.meter_start_wh)), *inside.items(), (stop, Decimal(usage.meter_stop_wh))]
    for (t0, e0), (t1, e1) in pairwise(points):
        yield t0, t1, max(e1 - e0, Decimal(0))


def _time_bounds(zone: ZoneInfo, times: set[time], t0: datetime, t1: datetime) -> Iterator[datetime]:
    """Each of the local times of day on every local day from t0 to t1, as UTC instants."""
    day, last_day = t0.astimezone(zone).date(), t1.astimezone(zone).date()
    while day <= last_day:
        for tod in times:
            yield datetime.combine(day, tod, tzinfo=zone).astimezone(UTC)
        day += timedelta(days=1)


def price_session(tariff: Tariff, usage: SessionUsage) -> Bill:
    # UTC, because aware-datetime arithmetic within one ZoneInfo is wall-clock, not elapsed time
    zone, begin = tariff.zone, usage.started_at.astimezone(UTC)
    restrictions = [e.restrictions for e in tariff.elements if e.restrictions]
    times_of_day = {time(0)} | {time.fromisoformat(hhmm) for r in restrictions
                                for hhmm in (r.start_time, r.end_time) if hhmm}
    duration_bounds = [begin + timedelta(seconds=s) for r in restrictions
                       for s in (r.min_duration, r.max_duration) if s is not None]
    kwh_bounds = {k * 1000 for r in restrictions for k in (r.min_kwh, r.max_kwh) if k is not None}

    used: dict[tuple[int, DimensionType], Decimal] = defaultdict(Decimal)  # base units (Wh, s)
    last_active: dict[DimensionType, int] = {}
    consumed, seconds_by_state = Decimal(0), {True: Decimal(0), False: Decimal(0)}
    for t0, t1, wh in _intervals(usage):
        charging, span, elapsed = wh > 0, _seconds(t1 - t0), _seconds(t0 - begin)
        cuts = {Decimal(0), Decimal(1)}
        cuts |= {_seconds(b - t0) / span for b in (*_time_bounds(zone, times_of_day, t0, t1), *duration_bounds)
                 if t0 < b < t1}
        cuts |= {(k - consumed) / wh for k in kwh_bounds if consumed < k < consumed + wh}
        for a, b in pairwise(sorted(cuts)):
            mid = (a + b) / 2
            local = (t0 + timedelta(microseconds=int(span * mid * 1_000_000))).astimezone(zone)
            time_dim = DimensionType.TIME if charging else DimensionType.PARKING_TIME
            for dim, qty in ((DimensionType.ENERGY, wh * (b - a)), (time_dim, span * (b - a))):
                if qty <= 0:
                    continue
                index = tariff.active_element(dim, local, consumed + wh * mid, elapsed + span * mid)
                if index is not None:
                    used[index, dim] += qty
                    last_active[dim] = index
        consumed += wh
        seconds_by_state[charging] += span

    flat = tariff.active_element(DimensionType.FLAT, begin.astimezone(zone), Decimal(0), Decimal(0))
    if flat is not None:
        used[flat, DimensionType.FLAT] = Decimal(1)

    cent = Decimal(1).scaleb(-_MINOR_UNITS.get(tariff.currency, 2))
    items = []
    for index, dim in sorted(used, key=lambda key: (_DIM_ORDER.index(key[1]), key[0])):
        component = tariff.elements[index].component(dim)
        assert component is not None
        base = used[index, dim]
        if last_active.get(dim) == index:
            # quantize first: spreading over cut pieces leaves ~1e-25 noise that must not cost a step
            steps = (base.quantize(_QTY) / component.step_size).to_integral_value(ROUND_CEILING)
            base = steps * component.step_size
        unit, per_unit = _UNITS[dim]
        quantity = (base / per_unit).quantize(_QTY, ROUND_HALF_UP)
        if quantity:
            amount = (quantity * component.price).quantize(cent, ROUND_HALF_UP)
            items.append(LineItem(dim, index, quantity, unit, component.price, amount))

    excl = sum((item.amount for item in items), Decimal(0)).quantize(cent)
    tax = (excl * tariff.tax_rate).quantize(cent, ROUND_HALF_UP)
    return Bill(
        tariff_id=tariff.id, currency=tariff.currency,
        energy_wh=int(consumed.to_integral_value(ROUND_HALF_UP)),
        charging_seconds=int(seconds_by_state[True].to_integral_value(ROUND_HALF_UP)),
        parking_seconds=int(seconds_by_state[False].to_integral_value(ROUND_HALF_UP)),
        line_items=items, amount_excl_tax=excl, tax_amount=tax, amount_incl_tax=excl + tax,
    )


def default_tariff() -> Tariff:
    """The seeded default: 0.30 EUR/kWh plus 0.50 EUR per session, 19 % VAT; time is free."""
    return Tariff(id="default", currency="EUR", tax_rate=Decimal("0.19"), elements=[
        TariffElement(price_components=[
            PriceComponent(type=DimensionType.ENERGY, price=Decimal("0.30"), step_size=1),
            PriceComponent(type=DimensionType.FLAT, price=Decimal("0.50")),
        ]),
    ])


DEFAULT_TARIFF_JSON: dict[str, Any] = default_tariff().model_dump(mode="json")
