"""Fixtures of the emulator tests: a fake CSMS and an online station."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chargeplane.emulator.station import Station, StationConfig
from support.fake_csms import FAST_INTERVAL, FAST_POWER_KW, FakeCsms


@pytest.fixture
async def csms() -> AsyncIterator[FakeCsms]:
    fake = FakeCsms()
    await fake.start()
    try:
        yield fake
        fake.assert_frames_valid()
    finally:
        await fake.stop()


@pytest.fixture
async def station(csms: FakeCsms) -> AsyncIterator[Station]:
    """An online station with fast meter values, closed after the test."""
    station = Station(
        StationConfig("CP-REMOTE", csms.url, meter_interval=FAST_INTERVAL, power_kw=FAST_POWER_KW, call_timeout=2)
    )
    await station.connect()
    try:
        yield station
    finally:
        await station.close()
