"""A bill waits for its last meter reading, but not for ever."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from chargeplane.services.billing.pricing import MeterSample
from chargeplane.services.billing.readings import ReadingWaits, missing_readings

NOON = datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_each_awaited_reading_must_be_there_itself() -> None:
    """A later reading (the stop's) may reach telemetry before an earlier one (the last periodic
    one, found by make chaos): it does not stand in for it."""
    later = NOON + timedelta(seconds=1)
    samples = [MeterSample(later, Decimal(1000))]
    assert missing_readings(samples, [NOON, later]) == [NOON]
    assert missing_readings([*samples, MeterSample(NOON, Decimal(990))], [NOON, later]) == []
    assert missing_readings([], []) == []


def test_a_bill_waits_until_the_wait_is_up_then_no_more() -> None:
    patient, impatient = ReadingWaits(max_wait_s=3600), ReadingWaits(max_wait_s=0)
    assert patient.may_wait(7) and patient.may_wait(7)
    assert not impatient.may_wait(7)
    patient.settled(7)
    assert patient.may_wait(7)
