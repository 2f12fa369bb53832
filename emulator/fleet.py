"""Runs N emulated stations against one CSMS: ramped connections, a number of charging sessions
per station with seeded random pauses between them, reconnects with backoff, and a
JSON-serialisable summary. Failures are counted, never fatal to the run."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Final

import aiohttp

from .errors import ConnectorStateError, NoActiveTransaction, SessionRejected, StationOffline
from .events import EventListener
from .protocol import CallError
from .station import DEFAULT_CSMS_URL, Station, StationConfig, TransactionRecord

# While a stop is requested, an open session's StopTransaction gets this long to reach the
# CSMS (the station may first have to come back online).
STOP_GRACE_WHEN_STOPPING: Final = 5.0


@dataclass(frozen=True, slots=True)
class FleetConfig:
    csms_url: str = DEFAULT_CSMS_URL
    stations: int = 1
    prefix: str = "EMU-"
    # One station with exactly this id instead of PREFIX0001 (a Kubernetes ChargingStation's simulator).
    station_id_override: str | None = None
    sessions: int = 1  # per station, spread over its connectors
    # Run until stopped: sessions=0 charges session after session, otherwise the stations
    # stay online (heartbeats) after their sessions; a Deployment's emulator must never exit.
    forever: bool = False
    session_seconds: float = 10.0
    power_kw: float = 11.0
    meter_interval: float = 2.0
    heartbeat_interval: float | None = None
    connectors: int = 1
    password: str | None = None
    # Security profiles 2 and 3 (wss:// URLs): the CA to trust, a client certificate and key.
    ca_file: str | None = None
    client_certificate_file: str | None = None
    client_key_file: str | None = None
    # None picks a random seed, reported in the summary so the run can be repeated.
    seed: int | None = None
    # Stations started per second, so thousands do not connect in the same millisecond.
    ramp: float = 50.0
    # The pause between two sessions of a connector is drawn from [0, max_pause_seconds].
    max_pause_seconds: float = 5.0
    call_timeout: float = 30.0
    connect_timeout: float = 10.0
    # A station that cannot get online for this long gives up its remaining sessions, and a
    # session start or stop the CSMS has not confirmed by then counts as failed.
    online_timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.stations < 0 or self.sessions < 0:
            raise ValueError("stations and sessions cannot be negative")
        if self.ramp <= 0:
            raise ValueError("ramp must be positive")
        if self.session_seconds < 0 or self.max_pause_seconds < 0:
            raise ValueError("session_seconds and max_pause_seconds cannot be negative")
        if self.station_id_override is not None and self.stations != 1:
            raise ValueError("an exact station id names one station")

    @property
    def sessions_requested(self) -> int:
        return self.stations * self.sessions

    def station_id(self, index: int) -> str:
        return self.station_id_override or f"{self.prefix}{index:04d}"

    def station_config(self, index: int, seed: int) -> StationConfig:
        return StationConfig(
            station_id=self.station_id(index),
            csms_url=self.csms_url,
            password=self.password,
            ca_file=self.ca_file,
            client_certificate_file=self.client_certificate_file,
            client_key_file=self.client_key_file,
            connectors=self.connectors,
            heartbeat_interval=self.heartbeat_interval,
            meter_interval=self.meter_interval,
            power_kw=self.power_kw,
            call_timeout=self.call_timeout,
            connect_timeout=self.connect_timeout,
            seed=f"{seed}:{index}:meter",
        )


@dataclass(frozen=True, slots=True)
class FleetProgress:
    elapsed_seconds: float
    stations_requested: int
    stations_launched: int
    stations_online: int
    sessions_requested: int
    sessions_active: int
    sessions_completed: int
    # Includes what open sessions have delivered so far.
    energy_wh: int


@dataclass(frozen=True, slots=True)
class FleetSummary:
    stations_requested: int
    stations_connected: int
    boots_accepted: int
    sessions_requested: int
    sessions_started: int
    sessions_completed: int
    # Sum of meterStop - meterStart over the completed sessions.
    energy_wh: int
    messages_sent: int
    messages_received: int
    # CALLERROR codes the CSMS answered with, and how often.
    call_errors: dict[str, int]
    # Connection failures, drops, timeouts and session trouble, by kind.
    failures: dict[str, int]
    duration_seconds: float
    seed: int
    # A stop was requested (Ctrl-C): sessions may have been cut short.
    interrupted: bool = False

    @property
    def succeeded(self) -> bool:
        return self.sessions_completed >= self.sessions_requested and not self.call_errors and not self.interrupted

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "succeeded": self.succeeded}


class Fleet:
    def __init__(self, config: FleetConfig, *, on_event: EventListener | None = None) -> None:
        """`on_event` is attached to every station (frames, connection and connector events)."""
        self.config = config
        self.seed = config.seed if config.seed is not None else random.SystemRandom().randrange(2**32)
        self.stations: list[Station] = []
        self._on_event = on_event
        self._stop_requested = asyncio.Event()
        self._sessions_started = 0
        self._sessions_active = 0
        self._sessions_completed = 0
        self._energy_wh = 0
        self._failures: Counter[str] = Counter()
        self._started_at: float | None = None
        self._finished_at: float | None = None

    @property
    def stopping(self) -> bool:
        return self._stop_requested.is_set()

    def request_stop(self) -> None:
        """End the run early: open sessions are stopped properly, no new ones start."""
        self._stop_requested.set()

    async def run(self) -> FleetSummary:
        if self._started_at is not None:
            raise RuntimeError("a fleet runs only once")
        self._started_at = time.monotonic()
        # WebSockets hold their pooled connection for the whole run, so the default pool
        # limit (100) would leave every further station queueing for a connection.
        http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.config.connect_timeout),
        )
        drivers: list[asyncio.Task[None]] = []
        try:
            for index in range(1, self.config.stations + 1):
                if not await self._wait_for_launch_slot(index):
                    break
                station = Station(self.config.station_config(index, self.seed), http, on_event=self._on_event)
                self.stations.append(station)
                drivers.append(asyncio.create_task(self._drive(station, index), name=station.station_id))
            await asyncio.gather(*drivers)
        finally:
            # Only still running when run() itself is cancelled: take every station down.
            for driver in drivers:
                driver.cancel()
            await asyncio.gather(*drivers, return_exceptions=True)
            await http.close()
            self._finished_at = time.monotonic()
        return self.summary()

    def progress(self) -> FleetProgress:
        return FleetProgress(
            elapsed_seconds=self._elapsed(),
            stations_requested=self.config.stations,
            stations_launched=len(self.stations),
            stations_online=sum(1 for station in self.stations if station.is_online),
            sessions_requested=self.config.sessions_requested,
            sessions_active=self._sessions_active,
            sessions_completed=self._sessions_completed,
            energy_wh=sum(station.delivered_energy_wh() for station in self.stations),
        )

    def summary(self) -> FleetSummary:
        call_errors: Counter[str] = Counter()
        failures = Counter(self._failures)
        for station in self.stations:
            call_errors.update(station.stats.call_errors)
            failures["connect_failed"] += station.stats.connect_failures
            failures["connection_dropped"] += station.stats.disconnects
            failures["call_timeout"] += station.stats.call_timeouts
        return FleetSummary(
            stations_requested=self.config.stations,
            stations_connected=sum(1 for station in self.stations if station.stats.connects > 0),
            boots_accepted=sum(station.stats.boots_accepted for station in self.stations),
            sessions_requested=self.config.sessions_requested,
            sessions_started=self._sessions_started,
            sessions_completed=self._sessions_completed,
            energy_wh=self._energy_wh,
            messages_sent=sum(station.stats.messages_sent for station in self.stations),
            messages_received=sum(station.stats.messages_received for station in self.stations),
            call_errors=dict(sorted(call_errors.items())),
            failures={kind: count for kind, count in sorted(failures.items()) if count},
            duration_seconds=round(self._elapsed(), 3),
            seed=self.seed,
            interrupted=self.stopping,
        )

    def _elapsed(self) -> float:
        if self._started_at is None:
            return 0.0
        return (self._finished_at or time.monotonic()) - self._started_at

    # ----- one station ---------------------------------------------------------------------

    async def _drive(self, station: Station, index: int) -> None:
        # One RNG per consumer, so reconnect jitter cannot shift the seeded session pauses.
        backoff_rng = random.Random(f"{self.seed}:{index}:backoff")
        keeper = asyncio.create_task(
            station.maintain_connection(initial_backoff=0.5, max_backoff=30.0, rng=backoff_rng),
            name=f"{station.station_id} connection",
        )
        try:
            connectors = self.config.connectors
            # Connectors charge side by side; the station's sessions are dealt out among them.
            shares = [len(range(offset, self.config.sessions, connectors)) for offset in range(connectors)]
            outcomes = await asyncio.gather(
                *(
                    self._run_sessions(station, number, share, index, random.Random(f"{self.seed}:{index}:{number}"))
                    for number, share in enumerate(shares, 1)
                ),
                return_exceptions=True,
            )
            for outcome in outcomes:
                if isinstance(outcome, Exception):
                    self._failures[f"unexpected_{type(outcome).__name__}"] += 1
                elif isinstance(outcome, BaseException):
                    raise outcome
            if self.config.forever:
                await self._stop_requested.wait()
            if station.is_online:
                # Sessions the CSMS started remotely end with the run as well.
                await station.stop_all_sessions()
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
            await station.close()

    async def _run_sessions(
        self, station: Station, connector_id: int, count: int, index: int, rng: random.Random
    ) -> None:
        id_tag = f"TAG-{index:05d}-{connector_id}"
        unlimited = self.config.forever and self.config.sessions == 0
        for number in itertools.count() if unlimited else range(count):
            if number > 0 and not await self._sleep_unless_stopping(rng.uniform(0, self.config.max_pause_seconds)):
                return
            if self.stopping:
                return
            if not await self._wait_online(station):
                if unlimited and not self.stopping:
                    continue  # keep waiting for the CSMS: nothing to abandon
                if not self.stopping:
                    self._failures["sessions_abandoned_offline"] += count - number
                return
            try:
                # The station resends the start through reconnects; a CSMS gone for good must
                # not hold up the run.
                async with asyncio.timeout(self.config.online_timeout):
                    transaction_id = await station.start_session(connector_id, id_tag)
            except SessionRejected:
                self._failures["session_rejected"] += 1
                continue
            except CallError:
                continue  # counted by code in the station's call errors
            except (StationOffline, TimeoutError):  # TimeoutError covers CallTimeout
                self._failures["session_start_failed"] += 1
                continue
            except ConnectorStateError:
                # e.g. the CSMS remote-started a session on this connector meanwhile.
                self._failures["connector_busy"] += 1
                continue
            self._sessions_started += 1
            self._sessions_active += 1
            try:
                await self._sleep_unless_stopping(self.config.session_seconds)
                record = await self._stop_session(station, connector_id, transaction_id)
            finally:
                self._sessions_active -= 1
            if record is not None and record.acknowledged:
                self._sessions_completed += 1
                self._energy_wh += record.energy_wh

    async def _stop_session(self, station: Station, connector_id: int, transaction_id: int) -> TransactionRecord | None:
        connector = station.connectors[connector_id]
        try:
            # Charging ends at once; the stop is resent through reconnects until the CSMS has it.
            async with asyncio.timeout(STOP_GRACE_WHEN_STOPPING if self.stopping else self.config.online_timeout):
                return await station.stop_session(connector_id)
        except NoActiveTransaction:
            # Already stopped by someone else (RemoteStopTransaction, Reset); the session
            # still counts if that stop reached the CSMS.
            last = connector.last_transaction
            return last if last is not None and last.transaction_id == transaction_id else None
        except CallError:
            return None  # counted by code in the station's call errors
        except (StationOffline, TimeoutError):  # TimeoutError covers CallTimeout
            self._failures["session_stop_failed"] += 1
            return None

    # ----- waiting -------------------------------------------------------------------------

    async def _wait_for_launch_slot(self, index: int) -> bool:
        assert self._started_at is not None
        delay = self._started_at + (index - 1) / self.config.ramp - time.monotonic()
        return await self._sleep_unless_stopping(delay)

    async def _sleep_unless_stopping(self, seconds: float) -> bool:
        """Sleep; False if a stop was requested before or during the sleep."""
        if self.stopping:
            return False
        if seconds <= 0:
            return True
        try:
            async with asyncio.timeout(seconds):
                await self._stop_requested.wait()
        except TimeoutError:
            return True
        return False

    async def _wait_online(self, station: Station) -> bool:
        """Wait until the station is online; False on timeout, or when a stop is requested."""
        if station.is_online:
            return True
        if self.stopping:
            return False
        waiters = {asyncio.ensure_future(station.wait_online()), asyncio.ensure_future(self._stop_requested.wait())}
        try:
            await asyncio.wait(waiters, timeout=self.config.online_timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return station.is_online
