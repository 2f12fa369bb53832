"""One emulated OCPP 1.6J charging station: connection, boot, heartbeats, a cable that can be
plugged in, charging sessions with meter values at a chosen power, transaction messages that
survive the connection (`transaction_queue`), and the dispatch of CSMS-initiated calls
(answered in `csms_calls`).

The model has no CLI and prints nothing; it reports through `Station.events` (frames sent and
received, connection state, connector status, errors) and counts in `Station.stats`, so the
headless fleet, a desktop GUI and a fault-injection suite can all drive the same class.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from random import Random
from typing import Any, Final
from urllib.parse import quote

import aiohttp

from . import reservations
from .auth_cache import AuthorizationCache
from .configuration import (
    HEARTBEAT_INTERVAL,
    METER_VALUE_SAMPLE_INTERVAL,
    METER_VALUES_SAMPLED_DATA,
    STOP_TRANSACTION_ON_INVALID_ID,
    TRANSACTION_MESSAGE_ATTEMPTS,
    TRANSACTION_MESSAGE_RETRY_INTERVAL,
    WEB_SOCKET_PING_INTERVAL,
    ChangeResult,
    Configuration,
    format_seconds,
)
from .csms_calls import HANDLERS
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
from .firmware import FirmwareState
from .ledger import Ledger
from .local_list import LocalAuthList, authorized_locally
from .meter import EnergyMeter
from .protocol import (
    CALL,
    Call,
    CallError,
    CallResult,
    FrameError,
    Payload,
    build_call,
    build_call_error,
    build_call_result,
    parse_frame,
    unique_id_factory,
    utc_timestamp,
)
from .security import AUTHORIZATION_KEY, StationSecurity
from .smart_charging import ChargingProfiles
from .transaction_queue import QueuedMessage, RetryPolicy, TransactionQueue

__all__ = [
    "CallTimeout",
    "Connector",
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

SUBPROTOCOL: Final = "ocpp1.6"
# Where `chargeplane up` serves OCPP on one machine.
DEFAULT_CSMS_URL: Final = "ws://127.0.0.1:8081/ocpp"
# Heartbeats use this until the CSMS names an interval in its BootNotification reply.
DEFAULT_HEARTBEAT_INTERVAL: Final = 300.0
# With MeterValueSampleInterval = 0 (periodic samples off) a charging connector still
# re-reads the key this often, so the CSMS can switch samples back on.
METER_OFF_POLL_SECONDS: Final = 1.0
MAX_ID_TAG_LENGTH: Final = 20


@dataclass(frozen=True, slots=True)
class StationConfig:
    station_id: str
    # Base URL; the station connects to `{csms_url}/{station_id}`.
    csms_url: str = DEFAULT_CSMS_URL
    # HTTP Basic auth (OCPP security profile 1) with the station id as user name.
    password: str | None = None
    vendor: str = "ChargePlane"
    model: str = "Emulator"
    firmware_version: str = "chargeplane-emulator"
    connectors: int = 1
    # Overrides the interval the CSMS gives in its BootNotification reply.
    heartbeat_interval: float | None = None
    meter_interval: float = 60.0
    power_kw: float = 11.0
    call_timeout: float = 30.0
    connect_timeout: float = 10.0
    # Wait before re-sending BootNotification after Pending/Rejected with interval 0.
    boot_retry_interval: float = 30.0
    # TransactionMessageAttempts and TransactionMessageRetryInterval (see transaction_queue).
    transaction_attempts: int = 5
    transaction_retry_interval: float = 5.0
    initial_energy_wh: float = 0.0
    # Security profiles 2 and 3 (`wss://` URLs): the CA file the CSMS's certificate must chain
    # to, and the client certificate and key the station starts with (profile 3).
    ca_file: str | None = None
    client_certificate_file: str | None = None
    client_key_file: str | None = None
    # Seeds meter noise and EV state of charge, for reproducible runs.
    seed: int | str | None = None

    def __post_init__(self) -> None:
        if not self.station_id or "/" in self.station_id:
            raise ValueError(f"invalid station id {self.station_id!r}")
        if self.password is not None and ":" in self.station_id:
            raise ValueError("HTTP Basic auth does not allow ':' in the station id")
        if len(self.vendor) > 20 or len(self.model) > 20:
            raise ValueError("OCPP limits vendor and model to 20 characters")
        if self.connectors < 1:
            raise ValueError("a station needs at least one connector")
        for name in ("meter_interval", "call_timeout", "connect_timeout", "boot_retry_interval", "power_kw"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.heartbeat_interval is not None and self.heartbeat_interval <= 0:
            raise ValueError("heartbeat_interval must be positive")
        if self.transaction_attempts < 1 or self.transaction_retry_interval < 0:
            raise ValueError("transaction messages need at least one attempt and a retry interval >= 0")

    @property
    def url(self) -> str:
        return f"{self.csms_url.rstrip('/')}/{quote(self.station_id, safe='')}"


@dataclass(slots=True)
class StationStats:
    """Counters a fleet or GUI can aggregate without listening to every frame."""

    messages_sent: int = 0
    messages_received: int = 0
    connects: int = 0
    connect_failures: int = 0
    # Connections that dropped without the station asking for it.
    disconnects: int = 0
    boots_accepted: int = 0
    call_timeouts: int = 0
    # CALLERROR codes the CSMS answered our CALLs with.
    call_errors: dict[str, int] = field(default_factory=dict)
    transactions_started: int = 0
    transactions_completed: int = 0
    # Sum of meterStop - meterStart over completed transactions.
    energy_delivered_wh: int = 0


@dataclass(frozen=True, slots=True)
class TransactionRecord:
    connector_id: int
    transaction_id: int
    id_tag: str
    meter_start_wh: int
    meter_stop_wh: int
    reason: str
    # Whether the CSMS confirmed the StopTransaction (False: it answered with a CALLERROR).
    acknowledged: bool = True

    @property
    def energy_wh(self) -> int:
        return self.meter_stop_wh - self.meter_start_wh


@dataclass(slots=True, eq=False)
class Connector:
    connector_id: int
    meter: EnergyMeter
    # What the EV draws while charging; 0 suspends charging (SuspendedEV).
    power_kw: float
    status: str = "Available"
    # Plugged in by hand (plug_in). A session started without it plugs and unplugs implicitly,
    # as a headless station does: Available again straight after the stop.
    cable_connected: bool = False
    # False after ChangeAvailability Inoperative; the connector then idles as Unavailable.
    operative: bool = True
    # Set from the moment a session is requested until it has fully ended, so two sessions
    # cannot race for one connector.
    in_session: bool = False
    charging: bool = False
    transaction_id: int | None = None
    id_tag: str | None = None
    meter_start_wh: int = 0
    # The stop under way, from the moment charging ends until the CSMS has the StopTransaction;
    # concurrent stop requests (local, remote, reset, unplug) join it.
    stopping: asyncio.Task[TransactionRecord] | None = None
    meter_task: asyncio.Task[None] | None = None
    last_transaction: TransactionRecord | None = None
    reservation: reservations.Reservation | None = None

    @property
    def idle_status(self) -> str:
        if not self.operative:
            return "Unavailable"
        if self.reservation is not None:
            return "Reserved"
        return "Preparing" if self.cable_connected else "Available"


def _basic_auth_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


_HAS_SEND_FRAME: Final = hasattr(aiohttp.ClientWebSocketResponse, "send_frame")


async def _send_text(ws: aiohttp.ClientWebSocketResponse, frame: bytes) -> None:
    # OCPP-J requires text frames. send_frame() ships the orjson bytes as they are; older
    # aiohttp versions lack it and need the decode/encode round trip of send_str().
    if _HAS_SEND_FRAME:
        await ws.send_frame(frame, aiohttp.WSMsgType.TEXT)
    else:
        await ws.send_str(frame.decode())


def _retrieve_outcome(task: asyncio.Task[Any]) -> None:
    # A stop whose caller went away must not log "exception was never retrieved".
    if not task.cancelled():
        task.exception()


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
        self._ledger = ledger
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
        now = time.monotonic()
        self.connectors: dict[int, Connector] = {
            number: Connector(
                number, EnergyMeter(energy_wh=config.initial_energy_wh, updated_at=now), power_kw=config.power_kw
            )
            for number in range(1, config.connectors + 1)
        }
        self.transaction_queue = TransactionQueue()
        self.security = StationSecurity(self)
        self.local_list = LocalAuthList()
        self.charging_profiles = ChargingProfiles(self.connectors, config.power_kw * 1000.0)
        # The status of connector 0, i.e. of the station as a whole.
        self.station_status = "Available"
        self.connection_state = ConnectionState.DISCONNECTED
        self.boot_status: str | None = None
        self.firmware = FirmwareState(config.firmware_version)
        self.uploads = UploadState()
        self.auth_cache = AuthorizationCache()

        self._http = http
        self._owns_http = http is None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._delivery: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._call_lock = asyncio.Lock()
        self._awaiting: tuple[str, asyncio.Future[Payload]] | None = None
        self._online = asyncio.Event()
        self._disconnected = asyncio.Event()
        self._disconnected.set()
        self._closing = asyncio.Event()
        # The socket the station itself is closing, so that drop is not counted as a failure.
        self._dropping: aiohttp.ClientWebSocketResponse | None = None
        self._next_unique_id = unique_id_factory()
        self._rng = Random(config.seed)

    # ----- state ---------------------------------------------------------------------------

    @property
    def station_id(self) -> str:
        return self.config.station_id

    @property
    def is_online(self) -> bool:
        return self.connection_state is ConnectionState.ONLINE

    @property
    def is_closed(self) -> bool:
        return self._closing.is_set()

    @property
    def heartbeat_interval(self) -> float:
        return self.configuration.seconds(HEARTBEAT_INTERVAL)

    @property
    def active_transactions(self) -> int:
        return sum(1 for connector in self.connectors.values() if connector.transaction_id is not None)

    def delivered_energy_wh(self) -> int:
        """Energy of completed transactions plus what open ones have delivered so far."""
        now = time.monotonic()
        in_progress = 0
        for connector in self.connectors.values():
            if connector.transaction_id is not None:
                connector.meter.advance(now)
                in_progress += connector.meter.register_wh - connector.meter_start_wh
        return self.stats.energy_delivered_wh + in_progress

    async def wait_online(self) -> None:
        await self._online.wait()

    async def wait_disconnected(self) -> None:
        await self._disconnected.wait()

    # ----- connection ----------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the WebSocket, boot (re-sending BootNotification while the CSMS answers Pending
        or Rejected), report every connector's status and start heartbeats. Returns once the
        station is online; on failure the socket is closed again and the error raised."""
        if self.is_closed:
            raise RuntimeError(f"station {self.station_id} is closed")
        if self._ws is not None:
            raise RuntimeError(f"station {self.station_id} is already connected")
        self._set_connection_state(ConnectionState.CONNECTING)
        try:
            ws = await self._open_socket()
        except BaseException as exc:
            self.security.on_connect_failed(exc)
            self.stats.connect_failures += 1
            self._set_connection_state(ConnectionState.DISCONNECTED)
            raise
        self.stats.connects += 1
        self._ws = ws
        self._disconnected.clear()
        self._reader = asyncio.create_task(self._read_frames(ws), name=f"{self.station_id} reader")
        self._set_connection_state(ConnectionState.BOOTING)
        try:
            await self._boot()
            # Statuses go out before the station counts as online, so that nobody waiting for
            # it can start a session whose Preparing overtakes the Available announced here.
            await self.announce_statuses()
            if self._ws is not ws:
                raise StationOffline(f"{self.station_id} lost its connection while booting")
        except BaseException:
            self.stats.connect_failures += 1
            await self.disconnect()
            raise
        self._set_connection_state(ConnectionState.ONLINE)
        self.restart_heartbeat()
        if self._delivery is None:
            # One delivery task for the station's life: it waits out offline periods itself.
            self._delivery = asyncio.create_task(
                self.transaction_queue.deliver(self.call, self.wait_online, self._retry_policy),
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
                self._report_error("connection attempt failed", exc)
            else:
                backoff = initial_backoff
                await self._disconnected.wait()
            if self.is_closed:
                return
            delay = backoff * rng.uniform(0.5, 1.0)
            backoff = min(backoff * 2, max_backoff)
            try:
                async with asyncio.timeout(delay):
                    await self._closing.wait()
            except TimeoutError:
                pass

    async def disconnect(self) -> None:
        """Drop the connection but keep the station usable: connect() works again afterwards.
        Used for Reset and by fault injection; open sessions stay open."""
        ws = self._ws
        if ws is None:
            return
        self._dropping = ws
        self._cancel_heartbeat()
        await ws.close()
        if self._reader is not None and self._reader is not asyncio.current_task():
            await asyncio.gather(self._reader, return_exceptions=True)
        # The reader normally reports the loss; make sure it happened even if it never ran.
        self._on_connection_lost(ws)

    async def close(self) -> None:
        """Close for good: stop all background work and the connection. Open sessions are
        left as they are; call stop_all_sessions() first to end them properly."""
        if self.is_closed:
            return
        self._closing.set()
        current = asyncio.current_task()
        tasks = [task for task in (*self._background, self._delivery) if task is not None and task is not current]
        self.transaction_queue.fail_all(StationOffline(f"station {self.station_id} closed"))
        for connector in self.connectors.values():
            connector.charging = False
            tasks += [task for task in (connector.meter_task, connector.stopping) if task is not None]
        for task in tasks:
            task.cancel()
        await self.disconnect()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._owns_http and self._http is not None:
            await self._http.close()
            self._http = None
        self._set_connection_state(ConnectionState.CLOSED)

    async def _open_socket(self) -> aiohttp.ClientWebSocketResponse:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        headers = {}
        if self.config.password is not None:
            headers["Authorization"] = _basic_auth_header(self.station_id, self.config.password)
        async with asyncio.timeout(self.config.connect_timeout):
            ws = await self._http.ws_connect(self.config.url, protocols=(SUBPROTOCOL,), headers=headers,
                                             heartbeat=self.configuration.seconds(WEB_SOCKET_PING_INTERVAL) or None,
                                             ssl=self.security.ssl_context())
        if ws.protocol != SUBPROTOCOL:
            # OCPP-J: without an agreed subprotocol the station must not talk OCPP.
            await ws.close()
            raise StationOffline(f"the CSMS did not accept the {SUBPROTOCOL} subprotocol")
        return ws

    async def _read_frames(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for message in ws:
                if message.type is aiohttp.WSMsgType.TEXT:
                    self._on_text(message.data)
                elif message.type is aiohttp.WSMsgType.ERROR:
                    break
                else:
                    self._report_error(f"ignored a non-text WebSocket message ({message.type.name})")
        finally:
            self._on_connection_lost(ws)

    def _on_connection_lost(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        if self._ws is not ws:
            return
        self._ws = None
        if self._awaiting is not None and not self._awaiting[1].done():
            self._awaiting[1].set_exception(StationOffline("connection lost while waiting for a reply"))
        self._cancel_heartbeat()
        if self._dropping is not ws:
            self.stats.disconnects += 1
        self._dropping = None
        self._set_connection_state(ConnectionState.CLOSED if self.is_closed else ConnectionState.DISCONNECTED)
        self._disconnected.set()

    def _set_connection_state(self, state: ConnectionState) -> None:
        if state is self.connection_state:
            return
        self.connection_state = state
        if state is ConnectionState.ONLINE:
            self._online.set()
        else:
            self._online.clear()
        if self.events:
            self.events.emit(StationEvent(EventKind.CONNECTION, self.station_id, f"connection: {state}", state=state))

    # ----- frames and calls ----------------------------------------------------------------

    async def call(self, action: str, payload: Payload) -> Payload:
        """Send a CALL and return the CALLRESULT payload. Raises CallError for a CALLERROR,
        CallTimeout without a reply, StationOffline without a connection. Calls are serialised:
        OCPP allows one outstanding CALL per direction."""
        async with self._call_lock:
            if self._ws is None:
                raise StationOffline(f"cannot send {action}: {self.station_id} is not connected")
            unique_id = self._next_unique_id()
            reply: asyncio.Future[Payload] = asyncio.get_running_loop().create_future()
            self._awaiting = (unique_id, reply)
            outcome: dict[str, Any] = {"no_reply": "offline"}
            try:
                await self._send_frame(build_call(unique_id, action, payload))
                async with asyncio.timeout(self.config.call_timeout):
                    result = await reply
                outcome = {"result": result}
                return result
            except TimeoutError:
                self.stats.call_timeouts += 1
                outcome = {"no_reply": "timeout"}
                raise CallTimeout(action, unique_id, self.config.call_timeout) from None
            except CallError as exc:
                self.stats.call_errors[exc.code] = self.stats.call_errors.get(exc.code, 0) + 1
                outcome = {"error": exc.code}
                raise
            finally:
                self._awaiting = None
                if self._ledger is not None:
                    self._ledger.record(self.station_id, unique_id, action, payload, outcome)
                if reply.done() and not reply.cancelled():
                    reply.exception()  # mark as retrieved when we left before awaiting it

    async def send_best_effort(self, action: str, payload: Payload) -> Payload | None:
        """call() for a report whose loss must not abort what the station is doing (a firmware
        or upload status): a failure becomes an error event, and None is returned."""
        try:
            return await self.call(action, payload)
        except (StationOffline, CallTimeout, CallError) as exc:
            self._report_error(f"{action} failed", exc)
            return None

    async def _send_frame(self, frame: bytes) -> None:
        ws = self._ws
        if ws is None:
            raise StationOffline(f"{self.station_id} is not connected")
        if ws.closed:
            # aiohttp marks a socket closed before the reader task has run to say so. The
            # station must count as offline at once: the transaction queue would otherwise
            # resend to this socket without ever yielding to that reader.
            self._on_connection_lost(ws)
            raise StationOffline(f"{self.station_id} is not connected")
        if self.events:
            # Announced before the await: the reply may be read before send returns.
            self.events.emit(StationEvent(EventKind.FRAME_SENT, self.station_id, "SEND: " + frame.decode()))
        try:
            await _send_text(ws, frame)
        except (ConnectionError, aiohttp.ClientError) as exc:
            self._on_connection_lost(ws)
            raise StationOffline(f"{self.station_id}: send failed: {exc}") from exc
        self.stats.messages_sent += 1

    def _on_text(self, data: str) -> None:
        self.stats.messages_received += 1
        if self.events:
            self.events.emit(StationEvent(EventKind.FRAME_RECEIVED, self.station_id, "RECV: " + data))
        try:
            frame = parse_frame(data)
        except FrameError as exc:
            self._report_error("received a malformed frame", exc)
            if exc.message_type == CALL and exc.unique_id is not None:
                self._spawn(self._send_reply(build_call_error(exc.unique_id, "FormationViolation", str(exc))))
            return
        if isinstance(frame, Call):
            # Answered in a task so the reader keeps reading: acting on a call may take
            # CALLs of our own, whose replies this reader must deliver.
            self._spawn(self._answer(frame))
            return
        awaiting = self._awaiting
        if awaiting is None or awaiting[0] != frame.unique_id or awaiting[1].done():
            self._report_error(f"ignored a reply to no outstanding call ({frame.unique_id})")
            return
        if isinstance(frame, CallResult):
            awaiting[1].set_result(frame.payload)
        else:
            awaiting[1].set_exception(frame.to_exception())

    async def _answer(self, call: Call) -> None:
        handler = HANDLERS.get(call.action)
        follow_up: Callable[[], Awaitable[Any]] | None = None
        # The status or CALLERROR code the station answers with, for whoever watches it.
        answer = "NotImplemented"
        if handler is None:
            frame = build_call_error(call.unique_id, answer, f"{call.action} is not implemented")
        else:
            try:
                payload, follow_up = handler(self, call.payload)
                frame = build_call_result(call.unique_id, payload)
                answer = str(payload.get("status", "answered"))
            except CallError as exc:
                frame = build_call_error(call.unique_id, exc.code, exc.description, exc.details)
                answer = exc.code
            except (KeyError, TypeError, ValueError) as exc:
                # A missing or mistyped field in the CSMS's request.
                answer = "FormationViolation"
                frame = build_call_error(call.unique_id, answer, f"bad {call.action}: {exc!r}")
            except Exception as exc:
                answer = "InternalError"
                frame = build_call_error(call.unique_id, answer, repr(exc))
        if self.events:
            text = f"{call.action}: {answer}"
            self.events.emit(StationEvent(EventKind.CSMS_CALL, self.station_id, text, state=call.action))
        if not await self._send_reply(frame):
            return
        if follow_up is not None:
            try:
                await follow_up()
            except Exception as exc:
                self._report_error(f"acting on {call.action} failed", exc)

    async def _send_reply(self, frame: bytes) -> bool:
        try:
            await self._send_frame(frame)
        except StationOffline as exc:
            self._report_error("could not answer the CSMS", exc)
            return False
        return True

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._report_error("background task failed", task.exception())

    def _report_error(self, text: str, error: BaseException | None = None) -> None:
        if self.events:
            message = f"{text}: {error}" if error is not None else text
            self.events.emit(StationEvent(EventKind.ERROR, self.station_id, message, error=error))

    # ----- boot and heartbeat --------------------------------------------------------------

    async def send_boot_notification(self) -> Payload:
        """Send one BootNotification; when accepted, adopt the CSMS's heartbeat interval
        (unless the config overrides it). Returns the reply."""
        reply = await self.call(
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
            if self.events:
                text = f"boot {self.boot_status}; retrying in {retry_in:g} s"
                self.events.emit(StationEvent(EventKind.CONNECTION, self.station_id, text, state=self.connection_state))
            await asyncio.sleep(retry_in)

    def restart_heartbeat(self) -> None:
        """(Re)start the heartbeat timer, e.g. after the interval changed."""
        self._cancel_heartbeat()
        if self._ws is not None:
            self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name=f"{self.station_id} heartbeat")

    def _cancel_heartbeat(self) -> None:
        if self._heartbeat is not None and self._heartbeat is not asyncio.current_task():
            self._heartbeat.cancel()
        self._heartbeat = None

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            try:
                await self.call("Heartbeat", {})
            except StationOffline:
                return
            except (CallError, CallTimeout) as exc:
                self._report_error("Heartbeat failed", exc)

    # ----- connector status ----------------------------------------------------------------

    async def set_status(self, connector_id: int, status: str) -> None:
        """Change a connector's status (0: the station) and report it if it changed. A change
        made offline is not queued: the boot after reconnecting announces every status."""
        if self._record_status(connector_id, status) and self.is_online:
            await self.report_status(connector_id)

    def _set_status_soon(self, connector_id: int, status: str) -> None:
        """set_status() for tasks that may be cancelled: a cancelled caller would leave its
        StatusNotification unanswered while the next CALL goes out, which OCPP forbids."""
        if self._record_status(connector_id, status) and self.is_online:
            self._spawn(self.report_status(connector_id))

    async def report_status(self, connector_id: int) -> None:
        """Send a StatusNotification with the current status. Best effort: the status is local
        state and is announced again after a reconnect, so a lost notification must not
        abort a session; failures become error events."""
        status = self.station_status if connector_id == 0 else self.connectors[connector_id].status
        payload = {"connectorId": connector_id, "errorCode": "NoError", "status": status, "timestamp": utc_timestamp()}
        try:
            await self.call("StatusNotification", payload)
        except (StationOffline, CallTimeout, CallError) as exc:
            self._report_error(f"StatusNotification {status} for connector {connector_id} failed", exc)

    async def announce_statuses(self) -> None:
        """Report the station's and every connector's status, as after a (re)boot."""
        await self.report_status(0)
        for connector_id in self.connectors:
            await self.report_status(connector_id)

    def _record_status(self, connector_id: int, status: str) -> bool:
        if connector_id == 0:
            changed = self.station_status != status
            self.station_status = status
        else:
            connector = self.connectors[connector_id]
            changed = connector.status != status
            connector.status = status
        if changed and self.events:
            text = f"connector {connector_id}: {status}"
            self.events.emit(
                StationEvent(EventKind.CONNECTOR, self.station_id, text, connector_id=connector_id, state=status)
            )
        return changed

    @staticmethod
    def _charging_status(connector: Connector) -> str:
        if connector.meter.power_w > 0:
            return "Charging"
        # An EV that draws nothing (asked for 0 kW, or its battery is full) has suspended; one
        # that would draw but is limited to 0 by a charging profile is held by the station.
        wants_power = connector.power_kw > 0 and connector.meter.soc_percent < 100.0
        return "SuspendedEVSE" if wants_power else "SuspendedEV"

    # ----- smart charging ------------------------------------------------------------------

    def _limit_power(self) -> None:
        """Let each charging connector draw what its EV asks, within its charging profiles."""
        now, wall_clock = time.monotonic(), datetime.now(UTC)
        charging = [c for c in self.connectors.values() if c.charging]
        for connector in charging:
            limit_w = self.charging_profiles.power_limit_w(connector.connector_id, wall_clock, len(charging))
            connector.meter.set_power(min(connector.power_kw * 1000.0, limit_w), now)

    async def apply_charging_limits(self) -> None:
        """After a profile was set or cleared: the new limits at once, and the statuses they make."""
        self._limit_power()
        for connector in self.connectors.values():
            if connector.charging:
                await self.set_status(connector.connector_id, self._charging_status(connector))

    # ----- cable and power -----------------------------------------------------------------

    async def plug_in(self, connector_id: int) -> None:
        """An EV's cable is connected: Preparing until a session starts."""
        connector = self._connector(connector_id)
        if connector.cable_connected:
            raise ConnectorStateError(f"connector {connector_id} is already plugged in")
        connector.cable_connected = True
        if not connector.in_session:
            await self.set_status(connector_id, connector.idle_status)

    async def unplug(self, connector_id: int) -> None:
        """The cable is pulled: a transaction on the connector ends (reason EVDisconnected) and
        the connector is Available again."""
        if not self._connector(connector_id).cable_connected:
            raise ConnectorStateError(f"connector {connector_id} is not plugged in")
        await self._release_cable(connector_id, reason="EVDisconnected")

    async def unlock(self, connector_id: int) -> None:
        """UnlockConnector: a transaction on the connector ends (reason UnlockCommand) and the
        cable is released."""
        await self._release_cable(connector_id, reason="UnlockCommand")

    async def _release_cable(self, connector_id: int, reason: str) -> None:
        connector = self._connector(connector_id)
        connector.cable_connected = False
        if connector.transaction_id is not None:
            # The stop ends in the idle status, now that the cable is out.
            await self.stop_session(connector_id, reason=reason)
        elif not connector.in_session:
            await self.set_status(connector_id, connector.idle_status)

    async def set_power(self, connector_id: int, power_kw: float) -> None:
        """Set what the EV draws, at once while it charges; 0 suspends charging."""
        if power_kw < 0:
            raise ValueError("power cannot be negative")
        connector = self._connector(connector_id)
        connector.power_kw = power_kw
        if connector.charging:
            self._limit_power()
            await self.set_status(connector_id, self._charging_status(connector))

    def change_configuration(self, key: str, value: str) -> ChangeResult:
        """Apply a configuration change, asked for by the CSMS or by whoever drives the station."""
        if key == AUTHORIZATION_KEY:  # write-only: never stored among the readable keys
            return self.security.change_authorization_key(value)
        result = self.configuration.change(key, value)
        if result is ChangeResult.ACCEPTED and key == HEARTBEAT_INTERVAL:
            self.restart_heartbeat()
        # MeterValueSampleInterval and MeterValuesSampledData are read at every sample.
        return result

    # ----- sessions ------------------------------------------------------------------------

    async def start_session(self, connector_id: int, id_tag: str, *, authorize: bool = True) -> int:
        """Authorize `id_tag` (skipped with `authorize=False`, as for remote starts by default),
        report Preparing, queue StartTransaction with the connector's register as meterStart
        and wait for the transactionId (through reconnects: the queue resends the start), then
        charge: Charging status and periodic MeterValues. Returns the transactionId."""
        connector = self._connector(connector_id)
        if not id_tag or len(id_tag) > MAX_ID_TAG_LENGTH:
            raise ValueError(f"idTag must be 1..{MAX_ID_TAG_LENGTH} characters")
        if connector.in_session:
            raise ConnectorBusy(f"connector {connector_id} already has a session")
        if not connector.operative:
            raise ConnectorUnavailable(f"connector {connector_id} is inoperative")
        connector.in_session = True
        start: QueuedMessage | None = None
        try:
            # The local list may authorize the tag without asking the CSMS.
            tag_info = authorized_locally(self, id_tag) if authorize else None
            if authorize and tag_info is None:
                tag_info = (await self.call("Authorize", {"idTag": id_tag}))["idTagInfo"]
                self.auth_cache.remember(id_tag, tag_info)
                if (status := tag_info["status"]) != "Accepted":
                    raise SessionRejected(id_tag, status)
            reservation_id = reservations.claim(connector, id_tag, (tag_info or {}).get("parentIdTag"))
            await self.set_status(connector_id, "Preparing")
            meter_start = connector.meter.register_wh
            start_payload = {"connectorId": connector_id, "idTag": id_tag, "meterStart": meter_start,
                             "timestamp": utc_timestamp()}
            if reservation_id is not None:
                start_payload["reservationId"] = reservation_id
            start = self.transaction_queue.put("StartTransaction", start_payload)
            # Shielded: a caller that gives up must not cancel the reply the queue delivers.
            reply = await asyncio.shield(start.reply)
            transaction_id = int(reply["transactionId"])
            tag_status = reply["idTagInfo"]["status"]
            self.auth_cache.remember(id_tag, reply["idTagInfo"])
        except BaseException:
            if start is not None:
                # Not yet sent: the CSMS never hears of it. Sent: the CSMS closes the orphan
                # when this connector starts its next transaction.
                self.transaction_queue.withdraw(start)
            connector.in_session = False
            # Recorded at once and reported in the background: the caller may be cancelled.
            self._set_status_soon(connector_id, connector.idle_status)
            raise

        connector.transaction_id = transaction_id
        connector.id_tag = id_tag
        self.charging_profiles.transaction_started(connector_id, transaction_id, datetime.now(UTC))
        connector.meter_start_wh = meter_start
        self.stats.transactions_started += 1
        if tag_status != "Accepted" and self.configuration.flag(STOP_TRANSACTION_ON_INVALID_ID):
            # The CSMS recorded the transaction but refuses the tag: end it straight away.
            await self.stop_session(connector_id, reason="DeAuthorized")
            raise SessionRejected(id_tag, tag_status)

        connector.charging = True
        soc_percent = self._rng.uniform(10.0, 60.0)  # each session brings a different EV
        connector.meter.start_flow(connector.power_kw * 1000.0, soc_percent, time.monotonic())
        self._limit_power()
        await self.set_status(connector_id, self._charging_status(connector))
        connector.meter_task = asyncio.create_task(
            self._meter_loop(connector), name=f"{self.station_id}/{connector_id} meter"
        )
        return transaction_id

    async def stop_session(self, connector_id: int, reason: str = "Local") -> TransactionRecord:
        """End charging (Finishing) and queue StopTransaction (meterStop, timestamp, reason,
        idTag and a Transaction.End energy sample); once the CSMS has it (resent through
        reconnects, like every transaction message) the connector is Available again, or stays
        Finishing while the cable is plugged in. A stop already under way is joined rather
        than sent twice."""
        connector = self._connector(connector_id)
        if connector.stopping is None:
            if connector.transaction_id is None:
                raise NoActiveTransaction(f"connector {connector_id} has no transaction to stop")
            connector.stopping = asyncio.create_task(
                self._stop_transaction(connector, reason), name=f"{self.station_id}/{connector_id} stop"
            )
            connector.stopping.add_done_callback(_retrieve_outcome)
        # Shielded: a stop once begun completes even if this caller is cancelled.
        return await asyncio.shield(connector.stopping)

    async def stop_all_sessions(self, reason: str = "Local") -> list[TransactionRecord]:
        """Stop every open transaction; failures are reported as events, not raised."""
        records = []
        for connector in self.connectors.values():
            if connector.transaction_id is None:
                continue
            try:
                records.append(await self.stop_session(connector.connector_id, reason))
            except (StationOffline, CallTimeout, CallError, ConnectorStateError) as exc:
                self._report_error(f"stopping the session on connector {connector.connector_id} failed", exc)
        return records

    async def _stop_transaction(self, connector: Connector, reason: str) -> TransactionRecord:
        # `stopping` stays set until the final status is out, so every caller that joins
        # gets the record, and close() can still cancel the whole stop.
        try:
            return await self._send_stop(connector, reason)
        finally:
            connector.stopping = None

    async def _send_stop(self, connector: Connector, reason: str) -> TransactionRecord:
        self._end_charging(connector)
        stop = self._stop_payload(connector, reason)
        await self.set_status(connector.connector_id, "Finishing")
        refusal: CallError | CallTimeout | None = None
        try:
            await self.transaction_queue.put("StopTransaction", stop).reply
        except (CallError, CallTimeout) as exc:
            # The CSMS refused the stop, or never answered however often it was sent:
            # resending would not help, so the transaction ends here all the same.
            refusal = exc

        record = TransactionRecord(
            connector_id=connector.connector_id,
            transaction_id=stop["transactionId"],
            id_tag=stop["idTag"],
            meter_start_wh=connector.meter_start_wh,
            meter_stop_wh=stop["meterStop"],
            reason=stop["reason"],
            acknowledged=refusal is None,
        )
        connector.transaction_id = None
        connector.id_tag = None
        connector.last_transaction = record
        if refusal is None:
            self.stats.transactions_completed += 1
            self.stats.energy_delivered_wh += record.energy_wh
        connector.in_session = False
        if not connector.cable_connected:
            await self.set_status(connector.connector_id, connector.idle_status)
        if refusal is not None:
            raise refusal
        return record

    def _connector(self, connector_id: int) -> Connector:
        try:
            return self.connectors[connector_id]
        except KeyError:
            raise ValueError(f"{self.station_id} has no connector {connector_id}") from None

    def _end_charging(self, connector: Connector) -> None:
        connector.charging = False
        connector.meter.stop_flow(time.monotonic())
        self.charging_profiles.transaction_ended(connector.connector_id)
        self._limit_power()  # the others may share more of the station's limit now
        if connector.meter_task is not None:
            connector.meter_task.cancel()
        connector.meter_task = None

    def _stop_payload(self, connector: Connector, reason: str) -> Payload:
        timestamp = utc_timestamp()
        return {
            "transactionId": connector.transaction_id,
            "idTag": connector.id_tag,
            "meterStop": connector.meter.register_wh,
            "timestamp": timestamp,
            "reason": reason,
            "transactionData": [
                {"timestamp": timestamp, "sampledValue": [connector.meter.energy_sample("Transaction.End")]}
            ],
        }

    def _retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=int(self.configuration.get(TRANSACTION_MESSAGE_ATTEMPTS)),
            interval_seconds=self.configuration.seconds(TRANSACTION_MESSAGE_RETRY_INTERVAL),
        )

    # ----- meter values --------------------------------------------------------------------

    async def send_meter_values(self, connector_id: int, context: str = "Trigger") -> None:
        """Send one MeterValues for the connector right now (with its transactionId while in
        one), as a TriggerMessage asks; periodic samples go through the transaction queue."""
        await self.call("MeterValues", self._meter_values(self._connector(connector_id), context))

    def _meter_values(self, connector: Connector, context: str) -> Payload:
        connector.meter.advance(time.monotonic())
        measurands = self.configuration.items(METER_VALUES_SAMPLED_DATA)
        sample = {
            "timestamp": utc_timestamp(),
            "sampledValue": connector.meter.sampled_values(measurands, context, self._rng),
        }
        payload: Payload = {"connectorId": connector.connector_id, "meterValue": [sample]}
        if connector.transaction_id is not None:
            payload["transactionId"] = connector.transaction_id
        return payload

    async def _meter_loop(self, connector: Connector) -> None:
        while connector.charging:
            interval = self.configuration.seconds(METER_VALUE_SAMPLE_INTERVAL)
            await asyncio.sleep(interval if interval > 0 else METER_OFF_POLL_SECONDS)
            if not connector.charging:
                continue
            connector.meter.advance(time.monotonic())
            self._limit_power()  # a schedule's next period may have begun
            # A battery that filled up since the last sample suspends charging.
            self._set_status_soon(connector.connector_id, self._charging_status(connector))
            if interval > 0:
                # Queued rather than sent: samples taken offline reach the CSMS on reconnect.
                message = self.transaction_queue.put("MeterValues", self._meter_values(connector, "Sample.Periodic"))
                message.reply.add_done_callback(self._report_refused_sample)

    def _report_refused_sample(self, reply: asyncio.Future[Payload]) -> None:
        if not reply.cancelled() and reply.exception() is not None:
            self._report_error("MeterValues failed", reply.exception())
