"""A station's OCPP-J link to the CSMS: the WebSocket, the frames on it, the CALLs the station
sends (one at a time, as OCPP allows) and the answers to the CALLs the CSMS sends, each by the
handler of its action (`replies.Handlers`, the feature modules'). It reports through the
station's events and counts into its stats; it knows nothing of connectors or sessions.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, Final

import aiohttp

from .errors import CallTimeout, StationOffline
from .events import ConnectionState, EventEmitter, EventKind, StationEvent
from .ledger import Ledger
from .model import StationConfig, StationStats
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
)
from .replies import Handlers

SUBPROTOCOL: Final = "ocpp1.6"

_HAS_SEND_FRAME: Final = hasattr(aiohttp.ClientWebSocketResponse, "send_frame")


async def _send_text(ws: aiohttp.ClientWebSocketResponse, frame: bytes) -> None:
    # OCPP-J requires text frames. send_frame() ships the orjson bytes as they are; older
    # aiohttp versions lack it and need the decode/encode round trip of send_str().
    if _HAS_SEND_FRAME:
        await ws.send_frame(frame, aiohttp.WSMsgType.TEXT)
    else:
        await ws.send_str(frame.decode())


class Link:
    def __init__(self, config: Callable[[], StationConfig], stats: StationStats, events: EventEmitter,
                 ledger: Ledger | None) -> None:
        """`config`: the station's configuration as it is now (a password may change)."""
        self._config = config
        self._stats = stats
        self._events = events
        self._ledger = ledger
        # the answers to the CSMS's CALLs, by action; set once the station's parts exist
        self.handlers: Handlers = {}
        # told when the socket is gone, whoever closed it (the station's heartbeat stops)
        self.on_lost: Callable[[], None] = lambda: None
        self.connection_state = ConnectionState.DISCONNECTED
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._call_lock = asyncio.Lock()
        self._awaiting: tuple[str, asyncio.Future[Payload]] | None = None
        self._online = asyncio.Event()
        self._disconnected = asyncio.Event()
        self._disconnected.set()
        self.closing = asyncio.Event()
        # The socket the station itself is closing, so that drop is not counted as a failure.
        self._dropping: aiohttp.ClientWebSocketResponse | None = None
        self._next_unique_id = unique_id_factory()

    @property
    def station_id(self) -> str:
        return self._config().station_id

    @property
    def is_online(self) -> bool:
        return self.connection_state is ConnectionState.ONLINE

    @property
    def is_open(self) -> bool:
        return self._ws is not None

    async def wait_online(self) -> None:
        await self._online.wait()

    async def wait_disconnected(self) -> None:
        await self._disconnected.wait()

    # ----- the socket ----------------------------------------------------------------------

    async def open(self, http: aiohttp.ClientSession, headers: dict[str, str], ssl_context: ssl.SSLContext | bool,
                   ping_interval: float) -> aiohttp.ClientWebSocketResponse:
        """Open the WebSocket (`ping_interval` 0: no pings) and start reading it."""
        config = self._config()
        async with asyncio.timeout(config.connect_timeout):
            ws = await http.ws_connect(config.url, protocols=(SUBPROTOCOL,), headers=headers,
                                       heartbeat=ping_interval or None, ssl=ssl_context)
        if ws.protocol != SUBPROTOCOL:
            # OCPP-J: without an agreed subprotocol the station must not talk OCPP.
            await ws.close()
            raise StationOffline(f"the CSMS did not accept the {SUBPROTOCOL} subprotocol")
        self._ws = ws
        self._disconnected.clear()
        self._reader = asyncio.create_task(self._read_frames(ws), name=f"{config.station_id} reader")
        return ws

    def still_open(self, ws: aiohttp.ClientWebSocketResponse) -> bool:
        return self._ws is ws

    async def drop(self) -> None:
        """Close the socket (the station asked for it: not counted as a failure)."""
        ws = self._ws
        if ws is None:
            return
        self._dropping = ws
        await ws.close()
        if self._reader is not None and self._reader is not asyncio.current_task():
            await asyncio.gather(self._reader, return_exceptions=True)
        # The reader normally reports the loss; make sure it happened even if it never ran.
        self._on_connection_lost(ws)

    def background_tasks(self) -> list[asyncio.Task[Any]]:
        return list(self._background)

    async def _read_frames(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for message in ws:
                if message.type is aiohttp.WSMsgType.TEXT:
                    self._on_text(message.data)
                elif message.type is aiohttp.WSMsgType.ERROR:
                    break
                else:
                    self.report_error(f"ignored a non-text WebSocket message ({message.type.name})")
        finally:
            self._on_connection_lost(ws)

    def _on_connection_lost(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        if self._ws is not ws:
            return
        self._ws = None
        if self._awaiting is not None and not self._awaiting[1].done():
            self._awaiting[1].set_exception(StationOffline("connection lost while waiting for a reply"))
        self.on_lost()
        if self._dropping is not ws:
            self._stats.disconnects += 1
        self._dropping = None
        self.set_state(ConnectionState.CLOSED if self.closing.is_set() else ConnectionState.DISCONNECTED)
        self._disconnected.set()

    def set_state(self, state: ConnectionState) -> None:
        if state is self.connection_state:
            return
        self.connection_state = state
        if state is ConnectionState.ONLINE:
            self._online.set()
        else:
            self._online.clear()
        if self._events:
            self._events.emit(StationEvent(EventKind.CONNECTION, self.station_id, f"connection: {state}", state=state))

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
            call_timeout = self._config().call_timeout
            try:
                await self._send_frame(build_call(unique_id, action, payload))
                async with asyncio.timeout(call_timeout):
                    result = await reply
                outcome = {"result": result}
                return result
            except TimeoutError:
                self._stats.call_timeouts += 1
                outcome = {"no_reply": "timeout"}
                raise CallTimeout(action, unique_id, call_timeout) from None
            except CallError as exc:
                self._stats.call_errors[exc.code] = self._stats.call_errors.get(exc.code, 0) + 1
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
            self.report_error(f"{action} failed", exc)
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
        if self._events:
            # Announced before the await: the reply may be read before send returns.
            self._events.emit(StationEvent(EventKind.FRAME_SENT, self.station_id, "SEND: " + frame.decode()))
        try:
            await _send_text(ws, frame)
        except (ConnectionError, aiohttp.ClientError) as exc:
            self._on_connection_lost(ws)
            raise StationOffline(f"{self.station_id}: send failed: {exc}") from exc
        self._stats.messages_sent += 1

    def _on_text(self, data: str) -> None:
        self._stats.messages_received += 1
        if self._events:
            self._events.emit(StationEvent(EventKind.FRAME_RECEIVED, self.station_id, "RECV: " + data))
        try:
            frame = parse_frame(data)
        except FrameError as exc:
            self.report_error("received a malformed frame", exc)
            if exc.message_type == CALL and exc.unique_id is not None:
                self.spawn(self._send_reply(build_call_error(exc.unique_id, "FormationViolation", str(exc))))
            return
        if isinstance(frame, Call):
            # Answered in a task so the reader keeps reading: acting on a call may take
            # CALLs of our own, whose replies this reader must deliver.
            self.spawn(self._answer(frame))
            return
        awaiting = self._awaiting
        if awaiting is None or awaiting[0] != frame.unique_id or awaiting[1].done():
            self.report_error(f"ignored a reply to no outstanding call ({frame.unique_id})")
            return
        if isinstance(frame, CallResult):
            awaiting[1].set_result(frame.payload)
        else:
            awaiting[1].set_exception(frame.to_exception())

    async def _answer(self, call: Call) -> None:
        handler = self.handlers.get(call.action)
        follow_up: Callable[[], Awaitable[Any]] | None = None
        # The status or CALLERROR code the station answers with, for whoever watches it.
        answer = "NotImplemented"
        if handler is None:
            frame = build_call_error(call.unique_id, answer, f"{call.action} is not implemented")
        else:
            try:
                payload, follow_up = handler(call.payload)
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
        if self._events:
            text = f"{call.action}: {answer}"
            self._events.emit(StationEvent(EventKind.CSMS_CALL, self.station_id, text, state=call.action))
        if not await self._send_reply(frame):
            return
        if follow_up is not None:
            try:
                await follow_up()
            except Exception as exc:
                self.report_error(f"acting on {call.action} failed", exc)

    async def _send_reply(self, frame: bytes) -> bool:
        try:
            await self._send_frame(frame)
        except StationOffline as exc:
            self.report_error("could not answer the CSMS", exc)
            return False
        return True

    def spawn(self, coroutine: Awaitable[Any]) -> None:
        """Run `coroutine` in the background, until it ends or the station closes."""
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.report_error("background task failed", task.exception())

    def report_error(self, text: str, error: BaseException | None = None) -> None:
        if self._events:
            message = f"{text}: {error}" if error is not None else text
            self._events.emit(StationEvent(EventKind.ERROR, self.station_id, message, error=error))
