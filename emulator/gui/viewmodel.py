"""What the desktop emulator shows and what its buttons do, without a single widget.

The station is the same `Station` the headless emulator runs; it lives on a background event
loop. Everything crosses between the two threads through one thread-safe inbox: the loop puts
station events and a fresh `StationState` snapshot (every `refresh_seconds`) into it, and
`poll()`, called from Tk's main loop by the window and directly by tests, applies them on the
caller's thread and notifies the listeners. Commands go the other way as coroutines submitted
to the loop; their failures come back as log lines. So the window only binds, and tests
drive the whole emulator without a display.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final

from ..configuration import HEARTBEAT_INTERVAL, METER_VALUE_SAMPLE_INTERVAL, ChangeResult
from ..events import ConnectionState, EventKind, StationEvent
from ..station import DEFAULT_CSMS_URL, Station, StationConfig
from .background import BackgroundLoop

MAX_LOG_LINES: Final = 10_000
MAX_CSMS_CALLS: Final = 200
# Closing the window ends open sessions properly when the CSMS answers within this time.
STOP_SESSIONS_ON_CLOSE_SECONDS: Final = 5.0
# Reconnect backoff: a hand tester restarting the CSMS wants the station back quickly.
RECONNECT_INITIAL_BACKOFF: Final = 1.0
RECONNECT_MAX_BACKOFF: Final = 30.0


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    csms_url: str = DEFAULT_CSMS_URL
    station_id: str = "CP-1"
    # Empty: no HTTP Basic auth.
    password: str = ""
    vendor: str = "ChargePlane"
    model: str = "Desktop Emulator"


@dataclass(frozen=True, slots=True)
class StationSetup:
    """What the command line fixes for the window's lifetime."""

    connectors: int = 1
    power_kw: float = 11.0
    meter_interval: float = 10.0


@dataclass(frozen=True, slots=True)
class ConnectorState:
    connector_id: int
    # What the EV draws while charging (the power slider).
    power_kw: float
    status: str = "Available"
    cable_connected: bool = False
    transaction_id: int | None = None
    id_tag: str | None = None
    live_kw: float = 0.0
    # The meter's Energy.Active.Import.Register.
    register_wh: int = 0
    # Delivered since the open transaction started.
    session_wh: int = 0


@dataclass(frozen=True, slots=True)
class StationState:
    connectors: tuple[ConnectorState, ...]
    connection: ConnectionState = ConnectionState.DISCONNECTED
    # Transaction messages waiting for the CSMS, oldest first.
    queued: tuple[str, ...] = ()
    heartbeat_interval: float | None = None
    meter_interval: float | None = None


@dataclass(frozen=True, slots=True)
class LogLine:
    # Increases by one per line, so a view can append only what is new.
    number: int
    at: datetime
    text: str

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S}.{self.at.microsecond // 1000:03d} {self.text}"


@dataclass(frozen=True, slots=True)
class _Note:
    """A log line on its way from the loop thread; numbered when poll() takes it."""

    at: datetime
    text: str
    csms_call: bool = False


@dataclass(slots=True)
class _LoopSide:
    """What only the background loop's thread touches."""

    station: Station | None = None
    keeper: asyncio.Task[None] | None = None
    publisher: asyncio.Task[None] | None = None
    intervals: dict[str, float] = field(default_factory=dict)
    # Power chosen before the first Connect, given to the station when it is made.
    power_kw: dict[int, float] = field(default_factory=dict)


def log_text(event: StationEvent, url: str) -> str:
    """The log line for a station event: `SEND: [...]`, `RECV: [...]`, `Connecting to URL`, ..."""
    if event.kind is EventKind.CONNECTION and event.state == ConnectionState.CONNECTING:
        return f"Connecting to {url}"
    if event.kind is EventKind.CONNECTION:
        return f"Connection {event.text.removeprefix('connection: ')}"
    if event.kind is EventKind.CONNECTOR:
        return event.text.capitalize()
    if event.kind is EventKind.CSMS_CALL:
        return f"CSMS asked {event.text}"
    if event.kind is EventKind.ERROR:
        return f"Error: {event.text}"
    return event.text


class StationViewModel:
    def __init__(
        self,
        settings: ConnectionSettings,
        setup: StationSetup | None = None,
        *,
        refresh_seconds: float = 0.25,
    ) -> None:
        self.settings = settings
        self.setup = setup = setup or StationSetup()
        self.state = StationState(
            connectors=tuple(
                ConnectorState(number, power_kw=setup.power_kw) for number in range(1, setup.connectors + 1)
            )
        )
        self.log: deque[LogLine] = deque(maxlen=MAX_LOG_LINES)
        self.csms_calls: deque[LogLine] = deque(maxlen=MAX_CSMS_CALLS)
        self.log_filter = ""
        self._listeners: list[Callable[[], None]] = []
        self._inbox: queue.SimpleQueue[StationState | _Note] = queue.SimpleQueue()
        self._next_line = 1
        self._refresh_seconds = refresh_seconds
        self._loop = BackgroundLoop()
        self._side = _LoopSide(intervals={METER_VALUE_SAMPLE_INTERVAL: setup.meter_interval})
        self._loop.submit(self._start_publishing())
        self._closed = False

    # ----- observing (the caller's thread) ---------------------------------------------------

    def subscribe(self, listener: Callable[[], None]) -> None:
        """`listener()` runs after every poll() that changed something."""
        self._listeners.append(listener)

    def poll(self) -> bool:
        """Apply what the station reported since the last call; True if anything changed."""
        changed = False
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                break
            changed = True
            if isinstance(item, StationState):
                self.state = item
                continue
            line = LogLine(self._next_line, item.at, item.text)
            self._next_line += 1
            self.log.append(line)
            if item.csms_call:
                self.csms_calls.append(line)
        if changed:
            for listener in tuple(self._listeners):
                listener()
        return changed

    def connector(self, connector_id: int) -> ConnectorState:
        return self.state.connectors[connector_id - 1]

    def set_log_filter(self, text: str) -> None:
        self.log_filter = text
        for listener in tuple(self._listeners):
            listener()

    def visible_log(self) -> list[LogLine]:
        """The log lines that contain the filter text (case-insensitive)."""
        needle = self.log_filter.casefold()
        return [line for line in self.log if needle in line.text.casefold()]

    def save_log(self, path: Path) -> int:
        """Write the visible log lines to `path`; returns how many."""
        lines = self.visible_log()
        path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        self._note(f"Saved {len(lines)} log lines to {path}")
        return len(lines)

    # ----- commands (the caller's thread; the work runs on the loop) -------------------------

    def connect(self, settings: ConnectionSettings) -> concurrent.futures.Future[None]:
        self.settings = settings
        return self._command("Connect", lambda: self._connect(settings))

    def disconnect(self) -> concurrent.futures.Future[None]:
        return self._command("Disconnect", self._disconnect)

    def plug_in(self, connector_id: int) -> concurrent.futures.Future[None]:
        return self._command(f"Plug in on connector {connector_id}", lambda: self._station().plug_in(connector_id))

    def unplug(self, connector_id: int) -> concurrent.futures.Future[None]:
        return self._command(f"Unplug on connector {connector_id}", lambda: self._station().unplug(connector_id))

    def start(self, connector_id: int, id_tag: str) -> concurrent.futures.Future[None]:
        return self._command(
            f"Start on connector {connector_id}", lambda: self._station().start_session(connector_id, id_tag.strip())
        )

    def stop(self, connector_id: int) -> concurrent.futures.Future[None]:
        return self._command(f"Stop on connector {connector_id}", lambda: self._station().stop_session(connector_id))

    def set_power(self, connector_id: int, power_kw: float) -> concurrent.futures.Future[None]:
        return self._command(f"Power on connector {connector_id}", lambda: self._set_power(connector_id, power_kw))

    def set_intervals(self, heartbeat_seconds: str, meter_seconds: str) -> concurrent.futures.Future[None]:
        """Change HeartbeatInterval and MeterValueSampleInterval as a ChangeConfiguration would
        (empty: keep); before the first Connect they are kept for the station to come."""
        wanted = {HEARTBEAT_INTERVAL: heartbeat_seconds.strip(), METER_VALUE_SAMPLE_INTERVAL: meter_seconds.strip()}
        return self._command("Intervals", lambda: self._set_intervals({k: v for k, v in wanted.items() if v}))

    def close(self, timeout: float = STOP_SESSIONS_ON_CLOSE_SECONDS + 5.0) -> None:
        """End open sessions (if the CSMS answers soon), disconnect, and stop the loop thread."""
        if self._closed:
            return
        self._closed = True
        try:
            self._loop.submit(self._shut_down()).result(timeout)
        finally:
            self._loop.stop()

    # ----- the loop's side ----------------------------------------------------------------

    def _command(self, name: str, work: Callable[[], Awaitable[object]]) -> concurrent.futures.Future[None]:
        async def run() -> None:
            try:
                await work()
            except Exception as exc:
                self._note(f"{name} failed: {exc or type(exc).__name__}")

        return self._loop.submit(run())

    def _note(self, text: str, *, csms_call: bool = False) -> None:
        # Thread-safe: called from both threads.
        self._inbox.put(_Note(datetime.now().astimezone(), text, csms_call))

    def _station(self) -> Station:
        if self._side.station is None:
            raise RuntimeError("connect first")
        return self._side.station

    def _on_station_event(self, event: StationEvent) -> None:
        station = self._side.station
        url = station.config.url if station is not None else self.settings.csms_url
        self._note(log_text(event, url), csms_call=event.kind is EventKind.CSMS_CALL)

    async def _connect(self, settings: ConnectionSettings) -> None:
        config = StationConfig(
            station_id=settings.station_id.strip(),
            csms_url=settings.csms_url.strip(),
            password=settings.password or None,
            vendor=settings.vendor,
            model=settings.model,
            connectors=self.setup.connectors,
            power_kw=self.setup.power_kw,
            meter_interval=self._side.intervals[METER_VALUE_SAMPLE_INTERVAL],
            heartbeat_interval=self._side.intervals.get(HEARTBEAT_INTERVAL),
        )
        side = self._side
        if side.station is not None and side.station.config != config:
            if side.station.active_transactions or len(side.station.transaction_queue):
                raise RuntimeError("stop the open sessions and let the queue drain before changing the settings")
            await self._disconnect()
            await side.station.close()
            side.station = None
        if side.station is None:
            side.station = Station(config, on_event=self._on_station_event)
            for connector_id, power_kw in side.power_kw.items():
                await side.station.set_power(connector_id, power_kw)
        if side.keeper is not None and not side.keeper.done():
            return
        side.keeper = asyncio.create_task(
            side.station.maintain_connection(
                initial_backoff=RECONNECT_INITIAL_BACKOFF, max_backoff=RECONNECT_MAX_BACKOFF
            ),
            name="keep connected",
        )

    async def _disconnect(self) -> None:
        """Like pulling the network cable: sessions go on and their messages queue up."""
        side = self._side
        if side.keeper is not None:
            side.keeper.cancel()
            await asyncio.gather(side.keeper, return_exceptions=True)
            side.keeper = None
        if side.station is not None:
            await side.station.disconnect()

    async def _set_power(self, connector_id: int, power_kw: float) -> None:
        if self._side.station is None:
            self._side.power_kw[connector_id] = power_kw
        else:
            await self._side.station.set_power(connector_id, power_kw)

    async def _set_intervals(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            if self._side.station is None:
                self._side.intervals[key] = float(value)
            elif self._side.station.change_configuration(key, value) is not ChangeResult.ACCEPTED:
                raise ValueError(f"{key} {value!r} was rejected")
            self._note(f"{key} set to {value} s")

    async def _shut_down(self) -> None:
        side = self._side
        if side.publisher is not None:
            side.publisher.cancel()
        station = side.station
        if station is not None and station.is_online and station.active_transactions:
            try:
                async with asyncio.timeout(STOP_SESSIONS_ON_CLOSE_SECONDS):
                    await station.stop_all_sessions(reason="Other")
            except TimeoutError:
                pass  # the CSMS closes them when this station boots again
        await self._disconnect()
        if station is not None:
            await station.close()
            self._inbox.put(self._snapshot(station))  # the last word: Closed

    async def _start_publishing(self) -> None:
        self._side.publisher = asyncio.create_task(self._publish_state(), name="publish state")

    async def _publish_state(self) -> None:
        while True:
            if self._side.station is not None:
                self._inbox.put(self._snapshot(self._side.station))
            await asyncio.sleep(self._refresh_seconds)

    def _snapshot(self, station: Station) -> StationState:
        connectors = []
        now = time.monotonic()
        for number, connector in station.connectors.items():
            meter = connector.meter
            meter.advance(now)  # the register is integrated lazily
            register = meter.register_wh
            in_transaction = connector.transaction_id is not None
            connectors.append(
                ConnectorState(
                    connector_id=number,
                    power_kw=connector.power_kw,
                    status=connector.status,
                    cable_connected=connector.cable_connected,
                    transaction_id=connector.transaction_id,
                    id_tag=connector.id_tag,
                    live_kw=meter.power_w / 1000.0 if connector.charging else 0.0,
                    register_wh=register,
                    session_wh=register - connector.meter_start_wh if in_transaction else 0,
                )
            )
        return StationState(
            connectors=tuple(connectors),
            connection=station.connection_state,
            queued=tuple(message.description for message in station.transaction_queue),
            heartbeat_interval=station.heartbeat_interval,
            meter_interval=station.configuration.seconds(METER_VALUE_SAMPLE_INTERVAL),
        )
