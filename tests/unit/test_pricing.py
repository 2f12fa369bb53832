"""Pricing engine tests; every expected amount is computed by hand in the comment next to it."""

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import orjson
import pydantic
import pytest

from chargeplane.services.billing.pricing import (
    DEFAULT_TARIFF_JSON,
    Bill,
    DayOfWeek,
    DimensionType,
    MeterSample,
    PriceComponent,
    SessionUsage,
    Tariff,
    TariffElement,
    TariffRestrictions,
    default_tariff,
    price_session,
)

D = Decimal
E, T, P, F = DimensionType.ENERGY, DimensionType.TIME, DimensionType.PARKING_TIME, DimensionType.FLAT


def at(hh: int, mm: int = 0, day: int = 3, month: int = 6) -> datetime:
    """2024-06-03 is a Monday."""
    return datetime(2024, month, day, hh, mm, tzinfo=UTC)


def el(*components: tuple, **restrictions) -> TariffElement:
    """el((E, "0.30"), (T, "1.20", 900), start_time="08:00"): components as (type, price[, step])."""
    return TariffElement(
        price_components=[PriceComponent(type=c[0], price=D(c[1]), step_size=c[2] if len(c) > 2 else 1)
                          for c in components],
        restrictions=TariffRestrictions(**restrictions) if restrictions else None,
    )


def tariff(*elements: TariffElement, tax: str = "0", tz: str = "UTC", currency: str = "EUR") -> Tariff:
    return Tariff(id="t", currency=currency, tax_rate=D(tax), time_zone=tz, elements=list(elements))


def usage(start: datetime, stop: datetime, wh_start: int, wh_stop: int, *samples: tuple[datetime, int]):
    return SessionUsage(start, stop, wh_start, wh_stop, [MeterSample(t, D(e)) for t, e in samples])


def lines(bill: Bill) -> list[tuple[DimensionType, int, Decimal, Decimal]]:
    return [(li.dimension, li.element_index, li.quantity, li.amount) for li in bill.line_items]


def test_energy_only() -> None:
    bill = price_session(tariff(el((E, "0.25"))), usage(at(10), at(11), 1000, 13345))
    # 12.345 kWh * 0.25 = 3.08625 -> 3.09
    assert lines(bill) == [(E, 0, D("12.345"), D("3.09"))]
    assert bill.line_items[0].unit == "kWh"
    assert (bill.energy_wh, bill.charging_seconds, bill.parking_seconds) == (12345, 3600, 0)
    assert (bill.amount_excl_tax, bill.tax_amount, bill.amount_incl_tax) == (D("3.09"), 0, D("3.09"))


@pytest.mark.parametrize(
    ("wh", "energy_amount", "excl", "tax", "incl"),
    [
        (750, "0.23", "0.73", "0.14", "0.87"),  # 0.225 -> 0.23 (HALF_EVEN would give 0.22); tax 0.1387
        (3333, "1.00", "1.50", "0.29", "1.79"),  # 0.9999 -> 1.00; tax 0.285 -> 0.29 (HALF_EVEN: 0.28)
    ],
)
def test_default_tariff_energy_flat_and_tax_round_half_up(wh, energy_amount, excl, tax, incl) -> None:
    bill = price_session(default_tariff(), usage(at(10), at(11), 0, wh))
    assert lines(bill) == [(E, 0, D(wh) / 1000, D(energy_amount)), (F, 0, D(1), D("0.50"))]
    assert (bill.amount_excl_tax, bill.tax_amount, bill.amount_incl_tax) == (D(excl), D(tax), D(incl))
    assert bill.amount_excl_tax.as_tuple().exponent == -2


def test_default_tariff_seed() -> None:
    assert Tariff.model_validate(DEFAULT_TARIFF_JSON) == default_tariff()
    assert DEFAULT_TARIFF_JSON["tax_rate"] == "0.19"
    assert [(c["type"], c["price"]) for c in DEFAULT_TARIFF_JSON["elements"][0]["price_components"]] == [
        ("ENERGY", "0.30"), ("FLAT", "0.50")]
    json.dumps(DEFAULT_TARIFF_JSON)


def test_time_of_use_splits_at_boundary() -> None:
    peak = el((E, "0.40"), (T, "2.00"), (F, "1.00"), start_time="08:00", end_time="20:00")
    off_peak = el((E, "0.20"), (F, "0.50"))  # no TIME component: charging time after 20:00 is free
    bill = price_session(tariff(peak, off_peak), usage(at(19), at(21), 0, 22000))
    # constant power: 11 kWh each side of 20:00; 1 h of peak TIME; FLAT from the element active at 19:00
    assert lines(bill) == [
        (E, 0, D(11), D("4.40")), (E, 1, D(11), D("2.20")), (T, 0, D(1), D("2.00")), (F, 0, D(1), D("1.00"))]
    assert bill.amount_excl_tax == D("9.60")


def test_overnight_window_wraps_midnight() -> None:
    night = el((E, "0.15"), start_time="22:00", end_time="06:00")
    day = el((E, "0.35"))
    bill = price_session(tariff(night, day), usage(at(21), at(7, day=4), 0, 10_000))  # 1 kWh per hour
    # 22:00-06:00 = 8 kWh * 0.15 = 1.20; 21-22 and 06-07 = 2 kWh * 0.35 = 0.70
    assert lines(bill) == [(E, 0, D(8), D("1.20")), (E, 1, D(2), D("0.70"))]
    assert bill.amount_excl_tax == D("1.90")


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ({"start_time": "22:00"}, [(E, 0, D(2), D("2.00")), (E, 1, D(2), D("4.00"))]),  # 22-24 h only
        ({}, [(E, 0, D(4), D("4.00"))]),  # end 00:00 alone restricts nothing
    ],
)
def test_end_time_midnight_means_end_of_day(window, expected) -> None:
    late = el((E, "1.00"), end_time="00:00", **window)
    bill = price_session(tariff(late, el((E, "2.00"))), usage(at(21), at(1, day=4), 0, 4000))
    assert lines(bill) == expected


@pytest.mark.parametrize(
    ("start", "stop", "expected"),
    [
        (at(10, day=1), at(11, day=1), "2.00"),  # Saturday: 10 kWh * 0.20
        (at(10, day=3), at(11, day=3), "3.00"),  # Monday: 10 kWh * 0.30
        (at(23, day=2), at(1, day=3), "2.50"),  # Sunday 23:00 -> Monday 01:00: 5 * 0.20 + 5 * 0.30
    ],
)
def test_weekend_day_of_week(start, stop, expected) -> None:
    weekend = el((E, "0.20"), day_of_week=[DayOfWeek.SATURDAY, DayOfWeek.SUNDAY])
    bill = price_session(tariff(weekend, el((E, "0.30"))), usage(start, stop, 0, 10_000))
    assert bill.amount_excl_tax == D(expected)


def test_parking_time_detected_from_flat_meter() -> None:
    t = tariff(el((E, "0.30"), (T, "1.00"), (P, "6.00")))
    u = usage(at(10), at(12), 0, 12_000, (at(10, 30), 5000), (at(11), 10_000), (at(11, 30), 12_000))
    bill = price_session(t, u)
    # 12 kWh * 0.30 = 3.60; charging 1.5 h * 1.00 = 1.50; EV full from 11:30: 0.5 h * 6.00 = 3.00
    assert lines(bill) == [(E, 0, D(12), D("3.60")), (T, 0, D("1.5"), D("1.50")), (P, 0, D("0.5"), D("3.00"))]
    assert (bill.charging_seconds, bill.parking_seconds) == (5400, 1800)
    assert bill.amount_excl_tax == D("8.10")


@pytest.mark.parametrize(
    ("seconds", "step", "billed_hours", "amount"),
    [
        (1860, 900, "0.75", "1.80"),  # 31 min -> 45 min * 2.40/h
        (1800, 900, "0.5", "1.20"),  # already a multiple
        (1, 1, "0.000278", "0.00"),  # 1/3600 h
        (61, 60, "0.033333", "0.08"),  # 2 min; 0.033333 * 2.40 = 0.0799992
    ],
)
def test_time_step_size_rounds_up(seconds, step, billed_hours, amount) -> None:
    stop = at(10) + timedelta(seconds=seconds)
    bill = price_session(tariff(el((T, "2.40", step))), usage(at(10), stop, 0, 1))
    assert lines(bill) == [(T, 0, D(billed_hours), D(amount))]
    assert bill.charging_seconds == seconds


def test_step_size_only_applies_to_last_active_element() -> None:
    early = el((T, "3.60", 600), end_time="10:07")
    later = el((T, "1.80", 900))
    bill = price_session(tariff(early, later), usage(at(10), at(10, 31), 0, 1))
    # early: 420 s exact (not rounded to 600) = 0.116667 h * 3.60 = 0.42
    # later (last active): 1440 s -> 1800 s = 0.5 h * 1.80 = 0.90
    assert lines(bill) == [(T, 0, D("0.116667"), D("0.42")), (T, 1, D("0.5"), D("0.90"))]


def test_energy_step_size() -> None:
    bill = price_session(tariff(el((E, "0.30", 1000))), usage(at(10), at(11), 0, 2001))
    assert lines(bill) == [(E, 0, D(3), D("0.90"))]


@pytest.mark.parametrize("samples", [(), ((at(11), 8000),), ((at(10, 30), 10_000),)])
def test_kwh_thresholds(samples) -> None:
    first = el((E, "0.20"), max_kwh=D(10))
    beyond = el((E, "0.40"), min_kwh=D(10))
    bill = price_session(tariff(first, beyond), usage(at(10), at(12), 0, 25_000, *samples))
    # 10 kWh * 0.20 = 2.00; 15 kWh * 0.40 = 6.00, wherever the threshold falls relative to the samples
    assert lines(bill) == [(E, 0, D(10), D("2.00")), (E, 1, D(15), D("6.00"))]


def test_duration_threshold_first_hour_free() -> None:
    first_hour = el((T, "0"), max_duration=3600)
    bill = price_session(tariff(first_hour, el((T, "2.00"))), usage(at(10), at(12, 30), 0, 1000))
    assert lines(bill) == [(T, 0, D(1), D("0.00")), (T, 1, D("1.5"), D("3.00"))]


@pytest.mark.parametrize(
    "start",
    [
        datetime(2024, 7, 1, 3, tzinfo=UTC),  # CEST: 05:00 Berlin
        datetime(2024, 1, 15, 4, tzinfo=UTC),  # CET: 05:00 Berlin
        datetime(2024, 7, 1, 5, tzinfo=timezone(timedelta(hours=2))),  # same instant, other offset
    ],
)
def test_restrictions_use_tariff_time_zone(start) -> None:
    night = el((E, "0.10"), start_time="22:00", end_time="06:00")
    t = tariff(night, el((E, "0.30")), tz="Europe/Berlin")
    bill = price_session(t, usage(start, start + timedelta(hours=2), 0, 4000))
    # 05:00-06:00 local at 0.10 (2 kWh) + 06:00-07:00 at 0.30 (2 kWh); read as UTC it would all be night
    assert lines(bill) == [(E, 0, D(2), D("0.20")), (E, 1, D(2), D("0.60"))]


def test_dst_day_is_split_at_real_local_boundaries() -> None:
    # 2024-03-31 Berlin: 02:00 CET -> 03:00 CEST. 00:00 UTC = 01:00 CET; 03:00 UTC = 05:00 CEST.
    night = el((E, "0.10"), end_time="04:00")
    t = tariff(night, el((E, "0.30")), tz="Europe/Berlin")
    start = datetime(2024, 3, 31, tzinfo=UTC)
    bill = price_session(t, usage(start, start + timedelta(hours=3), 0, 3000))
    # until 04:00 CEST = 02:00 UTC: 2 h = 2 kWh at 0.10; then 1 kWh at 0.30
    assert lines(bill) == [(E, 0, D(2), D("0.20")), (E, 1, D(1), D("0.30"))]


def test_samples_out_of_order_and_outside_window_are_ignored_where_they_should_be() -> None:
    t = tariff(el((E, "1.00"), (T, "1.00"), (P, "10.00")))
    ordered = usage(at(10), at(11), 0, 4000, (at(10, 20), 2000), (at(10, 40), 4000))
    noisy = usage(at(10), at(11), 0, 4000, (at(12), 0), (at(10, 40), 4000), (at(9), 99_999),
                  (at(10, 20), 2000), (at(10), 500), (at(11), 7))
    assert price_session(t, noisy) == price_session(t, ordered)
    bill = price_session(t, ordered)
    # 4 kWh = 4.00; charging 40 min = 0.666667 h -> 0.67; parking 20 min = 0.333333 h * 10 -> 3.33
    assert lines(bill) == [
        (E, 0, D(4), D("4.00")), (T, 0, D("0.666667"), D("0.67")), (P, 0, D("0.333333"), D("3.33"))]


def test_register_reset_never_yields_negative_energy() -> None:
    t = tariff(el((E, "1.00"), (P, "6.00")))
    u = usage(at(10), at(11), 1000, 1500, (at(10, 20), 3000), (at(10, 30), 0), (at(10, 40), 500))
    bill = price_session(t, u)
    # rises: 2000 + (reset: 0) + 500 + 1000 = 3500 Wh; the reset interval 10:20-10:30 is parking
    assert (bill.energy_wh, bill.charging_seconds, bill.parking_seconds) == (3500, 3000, 600)
    assert lines(bill) == [(E, 0, D("3.5"), D("3.50")), (P, 0, D("0.166667"), D("1.00"))]


def test_meter_stop_below_start_without_samples_is_all_parking() -> None:
    bill = price_session(tariff(el((E, "1.00"), (P, "1.00"))), usage(at(10), at(11), 5000, 4000))
    assert (bill.energy_wh, bill.charging_seconds, bill.parking_seconds) == (0, 0, 3600)
    assert lines(bill) == [(P, 0, D(1), D("1.00"))]


def test_zero_length_session_still_bills_energy_and_flat() -> None:
    bill = price_session(default_tariff(), usage(at(10), at(10), 0, 1000))
    assert lines(bill) == [(E, 0, D(1), D("0.30")), (F, 0, D(1), D("0.50"))]


@pytest.mark.parametrize(
    "make",
    [
        lambda: usage(at(11), at(10), 0, 1),
        lambda: usage(datetime(2024, 6, 3, 10), at(11), 0, 1),  # noqa: DTZ001 - naive on purpose
        lambda: MeterSample(datetime(2024, 6, 3, 10), D(1)),  # noqa: DTZ001
    ],
)
def test_bad_usage_rejected(make) -> None:
    with pytest.raises(ValueError, match=r"before|timezone-aware"):
        make()


def test_decimal_exactness() -> None:
    # a float engine would produce 0.30000000000000004 here
    t = Tariff.model_validate({"id": "x", "currency": "EUR", "tax_rate": 0.19, "elements": [
        {"price_components": [{"type": "ENERGY", "price": 0.1}, {"type": "FLAT", "price": 0.2}]}]})
    assert t.elements[0].price_components[0].price == D("0.1")
    bill = price_session(t, usage(at(10), at(11), 0, 1000))
    assert str(bill.amount_excl_tax) == "0.30"
    assert (bill.tax_amount, bill.amount_incl_tax) == (D("0.06"), D("0.36"))  # 0.057 -> 0.06
    assert all(isinstance(v, Decimal) for li in bill.line_items for v in (li.quantity, li.amount))


def test_cuts_at_thirds_add_no_rounding_noise() -> None:
    # cuts at 1/3 and 2/3 of the interval give the middle piece 1/3 + ~1e-28 of it, which must not round
    # up a whole step (the middle element is the last one with ENERGY and TIME components)
    middle = el((E, "0.30"), (T, "3.00", 60), start_time="10:10", end_time="10:20")
    bill = price_session(tariff(middle), usage(at(10), at(10, 30), 0, 1500))
    # 500 Wh * 0.30 = 0.15; 600 s = 0.166667 h * 3.00 = 0.500001 -> 0.50
    assert lines(bill) == [(E, 0, D("0.5"), D("0.15")), (T, 0, D("0.166667"), D("0.50"))]


def test_zero_decimal_currency() -> None:
    bill = price_session(tariff(el((E, "35.5")), currency="JPY", tax="0.1"), usage(at(10), at(11), 0, 1000))
    assert (bill.amount_excl_tax, bill.tax_amount, bill.amount_incl_tax) == (D(36), D(4), D(40))


BASE = {"id": "x", "currency": "EUR", "tax_rate": "0.19",
        "elements": [{"price_components": [{"type": "ENERGY", "price": "0.30"}]}]}


def _with(path: str, value) -> dict:
    data = json.loads(json.dumps(BASE))
    *parents, key = path.split(".")
    node = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[key] = value
    return data


@pytest.mark.parametrize(
    "data",
    [
        _with("currency", "eur"),
        _with("currency", "EURO"),
        _with("tax_rate", "1"),
        _with("tax_rate", "-0.1"),
        _with("time_zone", "Mars/Olympus"),
        _with("elements", []),
        _with("surprise", 1),
        _with("elements.0.price_components", []),
        _with("elements.0.price_components.0.price", "-0.01"),
        _with("elements.0.price_components.0.price", "NaN"),
        _with("elements.0.price_components.0.step_size", 0),
        _with("elements.0.price_components.0.type", "KWH"),
        _with("elements.0.price_components.0.extra", 1),
        _with("elements.0.restrictions", {"start_time": "24:00"}),
        _with("elements.0.restrictions", {"start_time": "7:00"}),
        _with("elements.0.restrictions", {"end_time": "12:60"}),
        _with("elements.0.restrictions", {"day_of_week": ["FUNDAY"]}),
        _with("elements.0.restrictions", {"min_kwh": "-1"}),
        _with("valid_from", "2024-01-01T00:00:00"),
        {**BASE, "valid_from": "2024-02-01T00:00:00Z", "valid_to": "2024-01-01T00:00:00Z"},
    ],
)
def test_tariff_validation_rejects(data) -> None:
    with pytest.raises(pydantic.ValidationError):
        Tariff.model_validate(data)


def test_tariff_accepts_and_round_trips() -> None:
    restrictions = {"start_time": "22:00", "end_time": "06:00", "day_of_week": ["MONDAY"],
                    "start_date": "2024-01-01", "min_kwh": "2.5"}
    data = _with("elements.0.restrictions", restrictions)
    t = Tariff.model_validate({**data, "time_zone": "Europe/Berlin"})
    assert t.elements[0].restrictions.start_date == date(2024, 1, 1)
    assert Tariff.model_validate_json(t.model_dump_json()) == t


def test_is_valid_at() -> None:
    t = Tariff.model_validate({**BASE, "valid_from": "2024-01-01T00:00:00Z", "valid_to": "2025-01-01T00:00Z"})
    assert t.is_valid_at(at(10))
    assert not t.is_valid_at(datetime(2025, 1, 1, tzinfo=UTC))  # valid_to exclusive
    assert not t.is_valid_at(datetime(2023, 12, 31, 23, tzinfo=UTC))
    assert default_tariff().is_valid_at(at(10))


def test_bill_to_json_round_trip() -> None:
    t = tariff(el((E, "0.30"), (P, "6.00"), (F, "0.50")), tax="0.19")
    bill = price_session(t, usage(at(10), at(12), 0, 12_000, (at(11), 12_000)))
    data = bill.to_json()
    assert json.loads(json.dumps(data)) == data == orjson.loads(orjson.dumps(data))
    assert Bill.from_json(json.loads(json.dumps(data))) == bill
    # 12 kWh * 0.30 = 3.60; parking 1 h * 6.00; flat 0.50 -> 10.10; tax 1.919 -> 1.92
    assert [data["amount_excl_tax"], data["tax_amount"], data["amount_incl_tax"]] == ["10.10", "1.92", "12.02"]
    assert data["line_items"][0] == {"dimension": "ENERGY", "element_index": 0, "quantity": "12.000000",
                                     "unit": "kWh", "unit_price": "0.30", "amount": "3.60"}
