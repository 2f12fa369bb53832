"""An emulated station (`chargeplane.emulator`) on the test platform, with every frame it
sent and received kept, parsed, so a test can say what went over the wire."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson

from chargeplane.emulator.events import EventKind, StationEvent
from chargeplane.emulator.station import Station, StationConfig


class Frames:
    """The frames of one station, in order: `sent` by it, `received` from the CSMS."""

    def __init__(self) -> None:
        self.sent: list[list[Any]] = []
        self.received: list[list[Any]] = []

    def __call__(self, event: StationEvent) -> None:
        if event.kind is EventKind.FRAME_SENT:
            self.sent.append(orjson.loads(event.text.removeprefix("SEND: ")))
        elif event.kind is EventKind.FRAME_RECEIVED:
            self.received.append(orjson.loads(event.text.removeprefix("RECV: ")))

    def calls_received(self, action: str) -> list[dict[str, Any]]:
        """The payloads of the CALLs of `action` the CSMS sent the station."""
        return [frame[3] for frame in self.received if frame[0] == 2 and frame[2] == action]

    def calls_sent(self, action: str) -> list[dict[str, Any]]:
        """The payloads of the CALLs of `action` the station sent the CSMS."""
        return [frame[3] for frame in self.sent if frame[0] == 2 and frame[2] == action]


@asynccontextmanager
async def online_station(ocpp_url: str, station_id: str, **config: Any) -> AsyncIterator[tuple[Station, Frames]]:
    """A connected, booted emulated station and its frames; closed on the way out."""
    frames = Frames()
    station = Station(StationConfig(station_id, csms_url=ocpp_url, **{"meter_interval": 0.5, **config}),
                      on_event=frames)
    await station.connect()
    try:
        yield station, frames
    finally:
        await station.close()
