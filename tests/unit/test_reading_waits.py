"""A bill waits for its last meter reading, but not for ever."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from chargeplane.services.billing.pricing import MeterSample
from chargeplane.services.billing.readings import ReadingWaits, holds_reading

NOON = datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_the_samples_hold_the_reading_once_one_is_as_recent() -> None:
    samples = [MeterSample(NOON, Decimal(1000))]
    assert holds_reading(samples, NOON) and holds_reading(samples, None) and holds_reading([], None)
    assert not holds_reading(samples, NOON + timedelta(seconds=1)) and not holds_reading([], NOON)


def test_a_bill_waits_until_the_wait_is_up_then_no_more() -> None:
    patient, impatient = ReadingWaits(max_wait_s=3600), ReadingWaits(max_wait_s=0)
    assert patient.may_wait(7) and patient.may_wait(7)
    assert not impatient.may_wait(7)
    patient.settled(7)
    assert patient.may_wait(7)
