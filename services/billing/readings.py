"""A session's bill waits until telemetry holds the readings the gateway named (the newest
periodic one, the newest of the stop's own): the readings travel from the gateway to telemetry
on another relay than the stop to sessions and billing, so a bill priced at once could miss
them (and price charging as parking, or the other way round). Each must be there itself: the
stop's readings may arrive before the last periodic ones. The wait is bounded, so a reading
telemetry never stores cannot hold up billing for good."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

from aiohttp import web

from .pricing import MeterSample


def missing_readings(samples: Sequence[MeterSample], awaited: Sequence[datetime]) -> list[datetime]:
    held = {sample.at for sample in samples}
    return [at for at in awaited if at not in held]


class ReadingWaits:
    """When each session's bill first had to wait (this process only: a restart waits anew)."""

    def __init__(self, max_wait_s: float) -> None:
        self._max_wait_s = max_wait_s
        self._since: dict[int, float] = {}

    def may_wait(self, session_id: int) -> bool:
        """True while the bill may wait longer; False once it has waited long enough."""
        first = self._since.setdefault(session_id, time.monotonic())
        if time.monotonic() - first < self._max_wait_s:
            return True
        self.settled(session_id)
        return False

    def settled(self, session_id: int) -> None:
        self._since.pop(session_id, None)


READING_WAITS = web.AppKey("reading_waits", ReadingWaits)
