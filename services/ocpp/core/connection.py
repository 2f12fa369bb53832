"""One station's WebSocket: frame, validate, dispatch, answer — one CALL at a time."""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from aiohttp import WSCloseCode, WSMsgType, hdrs, web
from opentelemetry.trace import Status, StatusCode

from chargeplane.common.station_ids import STATION_ID_RULE, is_valid_station_id
from chargeplane.common.timeutil import utcnow

from ..settings import OCPP_SETTINGS, OcppSettings
from . import metrics, protocol, schemas
from .auth_client import AUTH, AuthUnavailable
from .commands import COMMANDS
from .context import StationContext
from .feature import FEATURES
from .framelog import FRAME_LOG, FrameLog
from .limits import AUTH_THROTTLE, HANDSHAKES, MessageRate, TooManyHandshakes
from .listeners import StationRoute
from .protocol import Call, CallErrorFrame, CallResult, ErrorCode, FrameError, OcppError
from .registry import REGISTRY
from .router import Route
from .spans import call_span
from .store import STORE
from .tls import CertificateMismatch, Transport, transport_of

log = structlog.get_logger(__name__)

SUBPROTOCOL = "ocpp1.6"
PROFILE_NEEDS = {
    2: "connect over TLS (the gateway's TLS port) with its password",
    3: "connect over TLS with a client certificate whose CN is the station id",
}


class StationConnection:
    def __init__(self, ctx: StationContext, ws: web.WebSocketResponse, frame_log: FrameLog,
                 routes: Mapping[str, Route]) -> None:
        self.ctx = ctx
        self.ws = ws
        self.frame_log = frame_log
        self.routes = routes
        self._call_lock = asyncio.Lock()
        self._pending_calls: dict[str, asyncio.Future[CallResult | CallErrorFrame]] = {}
        self._follow_ups: set[asyncio.Task[None]] = set()

    async def send(self, text: str, message_type: int, unique_id: str, action: str | None = None) -> None:
        self.frame_log.record(self.ctx.station_id, "out", text, message_type, unique_id, action)
        await self.ws.send_str(text)

    async def on_text(self, text: str) -> None:
        try:
            frame = protocol.parse_frame(text)
        except FrameError as exc:
            metrics.count_frame_error(exc.code)
            self.frame_log.record(self.ctx.station_id, "in", text)
            log.warning("malformed ocpp frame", station_id=self.ctx.station_id, error=exc.description)
            if not exc.answerable:
                return
            await self.send(protocol.call_error(exc.unique_id, exc.code, exc.description),
                            protocol.MessageType.CALLERROR, exc.unique_id)
            return
        if isinstance(frame, Call):
            self.frame_log.record(self.ctx.station_id, "in", text, 2, frame.unique_id, frame.action)
            reply = await self.on_call(frame)
            await self.send(reply, int(reply[1]), frame.unique_id, frame.action)
            if int(reply[1]) == protocol.MessageType.CALLRESULT:
                self._run_follow_ups()
            else:  # the station was not told: nothing may follow
                self.ctx.after_reply.clear()
        else:
            kind = 3 if isinstance(frame, CallResult) else 4
            self.frame_log.record(self.ctx.station_id, "in", text, kind, frame.unique_id)
            waiting = self._pending_calls.get(frame.unique_id)
            if waiting is not None and not waiting.done():
                waiting.set_result(frame)
            else:
                log.info("reply to no pending call", station_id=self.ctx.station_id, unique_id=frame.unique_id)

    def _run_follow_ups(self) -> None:
        # In tasks: a follow-up CALL's reply arrives through this connection's reader.
        while self.ctx.after_reply:
            task = asyncio.create_task(self._follow_up(self.ctx.after_reply.pop(0)))
            self._follow_ups.add(task)
            task.add_done_callback(self._follow_ups.discard)

    async def _follow_up(self, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except Exception:
            log.exception("ocpp follow-up failed", station_id=self.ctx.station_id)

    async def call(self, action: str, payload: dict[str, Any], within_s: float) -> CallResult | CallErrorFrame:
        """Send a CSMS-initiated CALL and wait for the station's reply.

        OCPP allows one outstanding CALL per direction: later commands queue on the lock.
        The lock belongs to this connection, so a command a dead connection never answered
        cannot hold up the station's next connection.
        """
        async with asyncio.timeout(within_s), self._call_lock:
            unique_id = uuid.uuid4().hex
            reply: asyncio.Future[CallResult | CallErrorFrame] = asyncio.get_running_loop().create_future()
            self._pending_calls[unique_id] = reply
            try:
                await self.send(protocol.call(unique_id, action, payload), 2, unique_id, action)
                return await reply
            finally:
                self._pending_calls.pop(unique_id, None)

    def abandon_calls(self) -> None:
        for reply in self._pending_calls.values():
            if not reply.done():
                reply.set_exception(ConnectionError("the station disconnected"))

    async def on_call(self, call: Call) -> str:
        route = self.routes.get(call.action)
        if route is None:
            # every action OCPP 1.6 (and its security extension) lets a station send is routed
            metrics.count_reply("unknown", ErrorCode.NOT_IMPLEMENTED)
            return protocol.call_error(call.unique_id, ErrorCode.NOT_IMPLEMENTED,
                                       f"action {call.action!r} is not an OCPP 1.6 station action")
        with call_span(self.ctx, call) as span:
            if span.is_recording():  # most are sampled out: build their attributes only for the rest
                span.set_attributes({"ocpp.station_id": self.ctx.station_id, "ocpp.action": call.action,
                                     "ocpp.unique_id": call.unique_id})
            try:
                schemas.validate(route.request_schema, call.payload)
                result = await route.handler(self.ctx, call.payload)
            except OcppError as exc:
                span.set_status(Status(StatusCode.ERROR, exc.code))
                metrics.count_reply(call.action, exc.code)
                return protocol.call_error(call.unique_id, exc.code, exc.description, exc.details)
            except Exception as exc:
                # Nothing was committed, so the station must retry: InternalError says so.
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, "InternalError"))
                log.exception("ocpp handler failed", station_id=self.ctx.station_id, action=call.action)
                metrics.count_reply(call.action, ErrorCode.INTERNAL_ERROR)
                return protocol.call_error(call.unique_id, ErrorCode.INTERNAL_ERROR,
                                           "the CSMS could not process the message; retry later")
            if "transactionId" in result:
                span.set_attribute("ocpp.transaction_id", result["transactionId"])
            metrics.count_reply(call.action, None)
            return protocol.call_result(call.unique_id, result)


def _station_id(request: web.Request) -> str:
    station_id = request.match_info.get("station_id") or request.query.get("station_id", "")
    if not is_valid_station_id(station_id):
        metrics.HANDSHAKE_REFUSALS.labels("bad_station_id").inc()
        # cut short: the id is the caller's, as long as a request line allows
        log.warning("station id refused", station_id=station_id[:64], length=len(station_id), peer=request.remote)
        raise web.HTTPBadRequest(text=f"{STATION_ID_RULE} in /ocpp/{{station_id}} or /ocpp/ws?station_id=ID")
    return station_id


def _basic_auth_password(request: web.Request, station_id: str) -> str | None:
    header = request.headers.get(hdrs.AUTHORIZATION)
    if header is None:
        return None
    scheme, _, encoded = header.partition(" ")
    try:
        if scheme.lower() != "basic":
            raise ValueError(f"scheme {scheme!r} is not Basic")
        login, separator, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        if not separator:
            raise ValueError("no ':' between username and password")
    except (ValueError, binascii.Error) as exc:
        raise web.HTTPBadRequest(text=f"malformed Authorization header: {exc}") from exc
    if login != station_id:
        raise _unauthorized("the Basic auth username must be the station id")
    return password


def _unauthorized(reason: str) -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(headers={hdrs.WWW_AUTHENTICATE: 'Basic realm="ChargePlane OCPP"'}, text=reason)


async def _authenticate(request: web.Request, app: web.Application, station_id: str, transport: Transport) -> None:
    """HTTP Basic on the upgrade: for stations with credentials (profile 1), always over
    TLS without a client certificate (profile 2). Wrong guesses from one address are
    throttled (`limits.AuthThrottle`)."""
    throttle, key = app[AUTH_THROTTLE], (station_id, request.remote or "")
    if (retry_after := throttle.retry_after(key)) > 0:
        metrics.HANDSHAKE_REFUSALS.labels("authentication_throttled").inc()
        log.warning("station authentication throttled", station_id=station_id, peer=request.remote,
                    retry_after_s=round(retry_after, 1))
        raise web.HTTPTooManyRequests(headers={hdrs.RETRY_AFTER: str(math.ceil(retry_after))},
                                      text="too many wrong passwords; retry later")
    try:
        password = _basic_auth_password(request, station_id)
    except web.HTTPClientError:
        throttle.failed(key)
        raise
    try:
        allowed = await app[AUTH].station_may_connect(station_id, password,
                                                      password_required=transport is Transport.TLS)
    except AuthUnavailable as exc:
        metrics.HANDSHAKE_REFUSALS.labels("authentication_unavailable").inc()
        log.warning("station authentication unavailable", station_id=station_id, error=str(exc))
        raise web.HTTPServiceUnavailable(text="station authentication is unavailable; retry later") from exc
    if not allowed:
        throttle.failed(key)
        metrics.HANDSHAKE_REFUSALS.labels("authentication_failed").inc()
        log.warning("station authentication failed", station_id=station_id, peer=request.remote,
                    password_given=password is not None)
        raise _unauthorized("wrong or missing password for this station")
    throttle.succeeded(key)


def _transport(request: web.Request, station_id: str) -> Transport:
    try:
        return transport_of(request, station_id)
    except CertificateMismatch as exc:
        metrics.HANDSHAKE_REFUSALS.labels("certificate_mismatch").inc()
        log.warning("station certificate refused", station_id=station_id, common_name=exc.common_name,
                    peer=request.remote)
        raise web.HTTPForbidden(text=f"the client certificate is not for station {station_id!r}") from exc


async def _upgrade(request: web.Request, app: web.Application, station_id: str) -> StationConnection:
    """Everything that needs the database happens before the upgrade: if PostgreSQL is
    away the station gets a 503 and retries, instead of a socket we cannot serve."""
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    if offered and SUBPROTOCOL not in offered:
        metrics.HANDSHAKE_REFUSALS.labels("unsupported_subprotocol").inc()
        raise web.HTTPBadRequest(text=f"unsupported OCPP version {offered}: this CSMS speaks {SUBPROTOCOL}")
    transport = _transport(request, station_id)
    if transport is not Transport.MUTUAL_TLS:  # profile 3: the certificate is the credential
        await _authenticate(request, app, station_id, transport)
    try:
        connected = await app[STORE].connect(station_id, utcnow(), transport)
    except Exception as exc:
        metrics.HANDSHAKE_REFUSALS.labels("database_unavailable").inc()
        log.warning("station connect failed, asked to retry", station_id=station_id, error=repr(exc))
        raise web.HTTPServiceUnavailable(text="the CSMS cannot reach its database; retry later") from exc
    if connected is None:
        metrics.HANDSHAKE_REFUSALS.labels("unknown_station").inc()
        log.warning("unknown station refused", station_id=station_id, peer=request.remote)
        raise web.HTTPNotFound(text=f"unknown station {station_id!r}: register it with "
                                    f"`chargeplane station add {station_id}`")
    if not connected.admitted:
        profile = connected.station.security_profile
        metrics.HANDSHAKE_REFUSALS.labels("security_profile").inc()
        log.warning("station security profile refused", station_id=station_id, peer=request.remote,
                    security_profile=profile, transport=int(transport))
        raise web.HTTPForbidden(text=f"station {station_id!r} uses security profile {profile}: "
                                     f"{PROFILE_NEEDS[profile]}")
    features = app[FEATURES]
    ctx = StationContext(connected.station, app[STORE], app[AUTH], app, features.on_boot,
                         {t.connector_id: t for t in connected.open_transactions})
    ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,), autoping=True, heartbeat=None,
                               max_msg_size=app[OCPP_SETTINGS].max_frame_bytes)
    await ws.prepare(request)
    return StationConnection(ctx, ws, app[FRAME_LOG], features.routes)


async def _serve(connection: StationConnection, settings: OcppSettings) -> None:
    """Read and answer frames until the socket closes, or stays silent (no frame, no ping) for
    `idle_heartbeats` heartbeat intervals. A station sending faster than `message_rate` is
    slowed down, its frames waiting their turn: a flood costs the flooder, nobody else."""
    ws, station_id = connection.ws, connection.ctx.station_id
    idle_s = settings.idle_heartbeats * connection.ctx.station.heartbeat_interval
    rate, throttled = MessageRate(settings.message_rate, settings.message_burst), False
    while True:
        try:
            message = await ws.receive(timeout=idle_s)
        except TimeoutError:
            log.warning("idle station socket closed", station_id=station_id, idle_s=idle_s)
            await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"silent for too long: heartbeat")
            return
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
            return
        if message.type == WSMsgType.ERROR:  # aiohttp has closed the socket, 1009 for a frame too large
            log.warning("ocpp frame refused", station_id=station_id, error=str(message.data),
                        max_frame_bytes=settings.max_frame_bytes)
            continue
        if (wait := rate.delay()) > 0:
            if not throttled:
                log.warning("station rate limited", station_id=station_id, rate=settings.message_rate,
                            burst=settings.message_burst)
            throttled = True
            await asyncio.sleep(wait)
        elif rate.recovered:
            throttled = False
        if message.type == WSMsgType.TEXT:
            try:
                await connection.on_text(message.data)
            except (ConnectionResetError, asyncio.CancelledError):
                raise
            except Exception:  # a bug must cost one message, never the station's connection
                log.exception("ocpp frame handling failed", station_id=station_id)
        elif message.type == WSMsgType.BINARY:
            await connection.send(protocol.call_error(protocol.UNKNOWN_UNIQUE_ID, ErrorCode.FORMATION_VIOLATION,
                                                      "OCPP-J frames are text"), 4, protocol.UNKNOWN_UNIQUE_ID)


async def serve_station(request: web.Request, app: web.Application) -> web.StreamResponse:
    """A station's connection, on the plain listener or the TLS one (`listeners`)."""
    station_id = _station_id(request)
    try:
        async with app[HANDSHAKES].slot():
            connection = await _upgrade(request, app, station_id)
    except TooManyHandshakes as exc:
        metrics.HANDSHAKE_REFUSALS.labels("too_many_handshakes").inc()
        log.warning("too many pending handshakes", station_id=station_id, error=str(exc))
        raise web.HTTPServiceUnavailable(headers={hdrs.RETRY_AFTER: "5"},
                                         text="too many stations connecting at once; retry later") from exc
    ws = connection.ws
    registry = app[REGISTRY]
    replaced = registry.register(station_id, connection)
    # Logged before any await, so that these lines come in the order the registry took the
    # connections: of racing ones, the last line names the one that stays.
    peer = request.transport.get_extra_info("peername") if request.transport else None
    log.info("station connected", station_id=station_id, peer=request.remote, subprotocol=ws.ws_protocol,
             peer_port=peer[1] if peer else None)
    if replaced is not None:
        log.info("station reconnected, closing its previous connection", station_id=station_id)
        await replaced.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"replaced by a newer connection")
    await app[COMMANDS].claim(station_id)
    try:
        await _serve(connection, app[OCPP_SETTINGS])
    except (asyncio.CancelledError, ConnectionResetError):
        pass
    finally:
        connection.abandon_calls()
        if registry.unregister(station_id, connection):
            try:
                await app[COMMANDS].release(station_id)
                await app[STORE].disconnect(station_id, utcnow())
            except Exception as exc:  # the database may be the reason the socket died
                log.warning("could not mark station disconnected", station_id=station_id, error=repr(exc))
        log.info("station disconnected", station_id=station_id, close_code=ws.close_code)
    return ws


# `/ocpp/{station_id}` (OCPP-J) and `/ocpp/ws?station_id=ID` (legacy), on the station listeners
OCPP_ROUTES = (StationRoute("GET", "/ocpp/ws", serve_station), StationRoute("GET", "/ocpp/{station_id}", serve_station))
