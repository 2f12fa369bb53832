"""One emulated OCPP 1.6J charging station, put together: its link to the CSMS (`link`: the
socket, frames and calls), its connectors (`connectors`: status, cable, sessions, meter), the
model (`model`: configuration, counters), and the answers to CSMS-initiated calls, one module
per OCPP feature block, each given the parts of the station it needs (`csms_calls` in
`core_calls`, `triggers`, `auth_cache`, `data_transfer`, `local_list`, `reservations`,
`smart_charging`, `firmware`, `diagnostics`, `security`). Here are the boot, heartbeats and
the connection's life, and transaction messages that survive the connection
(`transaction_queue`).

The station has no CLI and prints nothing; it reports through `Station.events` (frames sent
and received, connection state, connector status, errors) and counts in `Station.stats`, so the
headless fleet, a desktop GUI and a fault-injection suite can all drive the same class.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace
from random import Random
from typing import Final

import aiohttp

from . import (
    auth_cache,
    core_calls,
    data_transfer,
    diagnostics,
    firmware,
    local_list,
    reservations,
    security,
    smart_charging,
    triggers,
)
from .auth_cache import AuthorizationCache
from .configuration import HEARTBEAT_INTERVAL, WEB_SOCKET_PING_INTERVAL, ChangeResult, Configuration, format_seconds
from .connectors import Connectors
from .diagnostics import UploadState
from .errors import (
    CallTimeout,
    ConnectorBusy,
    ConnectorStateError,
    ConnectorUnavailable,
    NoActiveTransaction,
    SessionRejected,
    StationOffline,
)
from .events import ConnectionState, EventEmitter, EventKind, EventListener, StationEvent
from .firmware import FirmwareState, Updater
from .ledger import Ledger
from .link import Link
from .local_list import LocalAuthList
from .model import DEFAULT_CSMS_URL, StationConfig, StationStats, TransactionRecord
from .protocol import CallError, Payload
from .replies import Handlers
from .security import AUTHORIZATION_KEY, StationSecurity
from .smart_charging import ChargingProfiles
from .transaction_queue import TransactionQueue

__all__ = [
    "DEFAULT_CSMS_URL",
    "CallTimeout",
    "ConnectorBusy",
    "ConnectorStateError",
    "ConnectorUnavailable",
    "NoActiveTransaction",
    "SessionRejected",
    "Station",
    "StationConfig",
    "StationOffline",
    "StationStats",
    "TransactionRecord",
]

# Heartbeats use this until the CSMS names an interval in its BootNotification reply.
DEFAULT_HEARTBEAT_INTERVAL: Final = 300.0


def _basic_auth_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


class Station:
    def __init__(
        self,
        config: StationConfig,
        http: aiohttp.ClientSession | None = None,
        *,
        on_event: EventListener | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        """`http` is shared by many stations; without one the station makes and owns its own.
        Every CALL the station sends, and its reply, goes into `ledger` when there is one."""
        self.config = config
        self.events = EventEmitter()
        if on_event is not None:
            self.events.add(on_event)
        self.stats = StationStats()
        self.configuration = Configuration(
            heartbeat_interval=config.heartbeat_interval or DEFAULT_HEARTBEAT_INTERVAL,
            meter_interval=config.meter_interval,
            connectors=config.connectors,
            transaction_attempts=config.transaction_attempts,
            transaction_retry_interval=config.transaction_retry_interval,
        )
        self.link = Link(lambda: self.config, self.stats, self.events, ledger)
        self.link.on_lost = self._cancel_heartbeat
        self.transaction_queue = TransactionQueue()
        self.local_list = LocalAuthList()
        self.auth_cache = AuthorizationCache()
        self.charging_profiles = ChargingProfiles(range(1, config.connectors + 1), config.power_kw * 1000.0)
        self._rng = Random(config.seed)
        self.connectors = Connectors(config, self.link, self.configuration, self.transaction_queue,
                                     self.charging_profiles, self.local_list, self.auth_cache, self.stats, self.events,
                                     self._rng)
        self.security = StationSecurity(config, self.transaction_queue, self.link, self.disconnect,
                                        self._set_password, self._emit_connection_event)
        self.boot_status: str | None = None
        self.firmware = FirmwareState(config.firmware_version)
        self.uploads = UploadState()
        self.link.handlers = self._csms_calls()

        self._http = http
        self._owns_http = http is None
        self._heartbeat: asyncio.Task[None] | None = None
        self._delivery: asyncio.Task[None] | None = None

    def _csms_calls(self) -> Handlers:
        """The answers to the CSMS's CALLs, by action: each feature block's, given its parts."""
        return {
            **core_calls.csms_calls(self.connectors, self.configuration, self.security, self.change_configuration,
                                    self.disconnect),
            **triggers.csms_calls(triggers.Triggered(
                list(self.connectors), self.firmware, self.uploads, self.link, self._triggered_boot,
                self.connectors.report_status, self.connectors.send_meter_values,
                self.security.request_certificate)),
            **auth_cache.csms_calls(self.auth_cache),
            **data_transfer.csms_calls(),
            **firmware.csms_calls(Updater(self.firmware, self.link, self._reboot)),
            **diagnostics.csms_calls(self, self.uploads, self.link),
            **security.csms_calls(self.security),
            **local_list.csms_calls(self.local_list, self.configuration),
            **reservations.csms_calls(self.connectors, self.configuration, self.connectors.set_status),
            **smart_charging.csms_calls(self.charging_profiles, self.connectors.apply_charging_limits),
        }

    # ----- state ---------------------------------------------------------------------------

    @property
    def station_id(self) -> str:
        return self.config.station_id

    @property
    def connection_state(self) -> ConnectionState:
        return self.link.connection_state

    @property
    def is_online(self) -> bool:
        return self.link.is_online

    @property
    def is_closed(self) -> bool:
        return self.link.closing.is_set()

    @property
    def station_status(self) -> str:
        """The status of connector 0, i.e. of the station as a whole."""
        return self.connectors.station_status

    @property
    def heartbeat_interval(self) -> float:
        return self.configuration.seconds(HEARTBEAT_INTERVAL)

    @property
    def active_transactions(self) -> int:
        return self.connectors.active_transactions

    def delivered_energy_wh(self) -> int:
        """Energy of completed transactions plus what open ones have delivered so far."""
        return self.connectors.delivered_energy_wh()

    async def wait_online(self) -> None:
        await self.link.wait_online()

    def _set_password(self, password: str) -> None:
        # the next connection authenticates with it
        self.config = replace(self.config, password=password)

    def _emit_connection_event(self, text: str) -> None:
        if self.events:
            self.events.emit(StationEvent(EventKind.CONNECTION, self.station_id, text, state=self.connection_state))

    # ----- connection ----------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the WebSocket, boot (re-sending BootNotification while the CSMS answers Pending
        or Rejected), report every connector's status and start heartbeats. Returns once the
        station is online; on failure the socket is closed again and the error raised."""
        if self.is_closed:
            raise RuntimeError(f"station {self.station_id} is closed")
        if self.link.is_open:
            raise RuntimeError(f"station {self.station_id} is already connected")
        self.link.set_state(ConnectionState.CONNECTING)
        if self._http is None:
            self._http = aiohttp.ClientSession()
        headers = {}
        if self.config.password is not None:
            headers["Authorization"] = _basic_auth_header(self.station_id, self.config.password)
        try:
            ws = await self.link.open(self._http, headers, self.security.ssl_context(),
                                      self.configuration.seconds(WEB_SOCKET_PING_INTERVAL))
        except BaseException as exc:
            self.security.on_connect_failed(exc)
            self.stats.connect_failures += 1
            self.link.set_state(ConnectionState.DISCONNECTED)
            raise
        self.stats.connects += 1
        self.link.set_state(ConnectionState.BOOTING)
        try:
            await self._boot()
            # Statuses go out before the station counts as online, so that nobody waiting for
            # it can start a session whose Preparing overtakes the Available announced here.
            await self.connectors.announce_statuses()
            if not self.link.still_open(ws):
                raise StationOffline(f"{self.station_id} lost its connection while booting")
        except BaseException:
            self.stats.connect_failures += 1
            await self.disconnect()
            raise
        self.link.set_state(ConnectionState.ONLINE)
        self.restart_heartbeat()
        if self._delivery is None:
            # One delivery task for the station's life: it waits out offline periods itself.
            self._delivery = asyncio.create_task(
                self.transaction_queue.deliver(self.link.call, self.link.wait_online, self.connectors.retry_policy),
                name=f"{self.station_id} transaction messages",
            )

    async def maintain_connection(
        self, *, initial_backoff: float = 1.0, max_backoff: float = 60.0, rng: Random | None = None
    ) -> None:
        """Keep the station connected until close(): connect, and after a failed attempt or a
        dropped socket wait a jittered, doubling delay before the next try, so that a CSMS
        restart is not hit by every station in the same millisecond."""
        rng = rng or self._rng
        backoff = initial_backoff
        while not self.is_closed:
            try:
                await self.connect()
            except (aiohttp.ClientError, OSError, TimeoutError, CallError) as exc:
                # OSError covers refused connections and StationOffline, TimeoutError CallTimeout.
                self.link.report_error("connection attempt failed", exc)
            else:
                backoff = initial_backoff
                await self.link.wait_disconnected()
            if self.is_closed:
                return
            delay = backoff * rng.uniform(0.5, 1.0)
            backoff = min(backoff * 2, max_backoff)
            try:
                async with asyncio.timeout(delay):
                    await self.link.closing.wait()
            except TimeoutError:
                pass

    async def disconnect(self) -> None:
        """Drop the connection but keep the station usable: connect() works again afterwards.
        Used for Reset and by fault injection; open sessions stay open."""
        if not self.link.is_open:
            return
        self._cancel_heartbeat()
        await self.link.drop()

    async def _reboot(self, reason: str) -> None:
        """End the sessions (with `reason`) and reconnect, as after new firmware."""
        await self.connectors.stop_all_sessions(reason=reason)
        await self.disconnect()

    async def close(self) -> None:
        """Close for good: stop all background work and the connection. Open sessions are
        left as they are; call stop_all_sessions() first to end them properly."""
        if self.is_closed:
            return
        self.link.closing.set()
        current = asyncio.current_task()
        tasks = [task for task in (*self.link.background_tasks(), self._delivery)
                 if task is not None and task is not current]
        self.transaction_queue.fail_all(StationOffline(f"station {self.station_id} closed"))
        tasks += self.connectors.tasks()
        for task in tasks:
            task.cancel()
        await self.disconnect()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._owns_http and self._http is not None:
            await self._http.close()
            self._http = None
        self.link.set_state(ConnectionState.CLOSED)

    # ----- calls ---------------------------------------------------------------------------

    async def call(self, action: str, payload: Payload) -> Payload:
        """Send a CALL and return the CALLRESULT payload (see `Link.call`)."""
        return await self.link.call(action, payload)

    async def send_best_effort(self, action: str, payload: Payload) -> Payload | None:
        return await self.link.send_best_effort(action, payload)

    # ----- boot and heartbeat --------------------------------------------------------------

    async def send_boot_notification(self) -> Payload:
        """Send one BootNotification; when accepted, adopt the CSMS's heartbeat interval
        (unless the config overrides it). Returns the reply."""
        reply = await self.link.call(
            "BootNotification",
            {
                "chargePointVendor": self.config.vendor,
                "chargePointModel": self.config.model,
                "chargePointSerialNumber": self.station_id[:25],
                "firmwareVersion": self.firmware.version[:50],
            },
        )
        self.boot_status = str(reply.get("status"))
        if self.boot_status == "Accepted":
            self.stats.boots_accepted += 1
            interval = self._boot_interval(reply)
            if self.config.heartbeat_interval is None and interval > 0:
                self.configuration.set(HEARTBEAT_INTERVAL, format_seconds(interval))
        return reply

    async def _triggered_boot(self) -> None:
        await self.send_boot_notification()
        self.restart_heartbeat()

    @staticmethod
    def _boot_interval(reply: Payload) -> float:
        interval = reply.get("interval", 0)
        return interval if isinstance(interval, int | float) and interval > 0 else 0

    async def _boot(self) -> None:
        while True:
            reply = await self.send_boot_notification()
            if self.boot_status == "Accepted":
                return
            # Pending or Rejected: the CSMS tells the station when to ask again.
            retry_in = self._boot_interval(reply) or self.config.boot_retry_interval
            self._emit_connection_event(f"boot {self.boot_status}; retrying in {retry_in:g} s")
            await asyncio.sleep(retry_in)

    def restart_heartbeat(self) -> None:
        """(Re)start the heartbeat timer, e.g. after the interval changed."""
        self._cancel_heartbeat()
        if self.link.is_open:
            self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name=f"{self.station_id} heartbeat")

    def _cancel_heartbeat(self) -> None:
        if self._heartbeat is not None and self._heartbeat is not asyncio.current_task():
            self._heartbeat.cancel()
        self._heartbeat = None

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            try:
                await self.link.call("Heartbeat", {})
            except StationOffline:
                return
            except (CallError, CallTimeout) as exc:
                self.link.report_error("Heartbeat failed", exc)

    def change_configuration(self, key: str, value: str) -> ChangeResult:
        """Apply a configuration change, asked for by the CSMS or by whoever drives the station."""
        if key == AUTHORIZATION_KEY:  # write-only: never stored among the readable keys
            return self.security.change_authorization_key(value)
        result = self.configuration.change(key, value)
        if result is ChangeResult.ACCEPTED and key == HEARTBEAT_INTERVAL:
            self.restart_heartbeat()
        # MeterValueSampleInterval and MeterValuesSampledData are read at every sample.
        return result

    # ----- connectors (see `Connectors`) ---------------------------------------------------

    async def set_status(self, connector_id: int, status: str) -> None:
        await self.connectors.set_status(connector_id, status)

    async def report_status(self, connector_id: int) -> None:
        await self.connectors.report_status(connector_id)

    async def plug_in(self, connector_id: int) -> None:
        await self.connectors.plug_in(connector_id)

    async def unplug(self, connector_id: int) -> None:
        await self.connectors.unplug(connector_id)

    async def set_power(self, connector_id: int, power_kw: float) -> None:
        await self.connectors.set_power(connector_id, power_kw)

    async def start_session(self, connector_id: int, id_tag: str, *, authorize: bool = True) -> int:
        return await self.connectors.start_session(connector_id, id_tag, authorize=authorize)

    async def stop_session(self, connector_id: int, reason: str = "Local") -> TransactionRecord:
        return await self.connectors.stop_session(connector_id, reason)

    async def stop_all_sessions(self, reason: str = "Local") -> list[TransactionRecord]:
        return await self.connectors.stop_all_sessions(reason)

    async def send_meter_values(self, connector_id: int, context: str = "Trigger") -> None:
        await self.connectors.send_meter_values(connector_id, context)
