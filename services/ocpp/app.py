"""The OCPP gateway: stations connect here over OCPP-J 1.6."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from chargeplane.common.httpclient import http_client_context
from chargeplane.common.keys import DB_POOL, HTTP, OUTBOX, SETTINGS
from chargeplane.common.outbox import outbox_context
from chargeplane.common.web import base_app

from . import (
    commands_api,
    configuration_api,
    diagnostics_api,
    firmware_api,
    local_list_api,
    metrics,
    reservations_api,
    security_api,
    smart_charging_api,
    station_states_api,
    stations_api,
    uploads_api,
)
from .auth_client import AuthClient
from .commands import commands_context
from .committer import GroupCommitter
from .configuration import configuration_context
from .connection import ocpp_websocket, serve_station
from .firmware_campaigns import dispatcher_context
from .framelog import FrameLog
from .keys import AUTH, AUTH_THROTTLE, COMMITTER, FRAME_LOG, HANDSHAKES, REGISTRY, STORE, TLS_LISTENER
from .limits import AuthThrottle, HandshakeSlots
from .registry import ConnectionRegistry
from .reservations import reservations_context
from .security import security_context
from .settings import OcppSettings
from .site_limits import balancer_context
from .store import METER_VALUES, METER_VALUES_BATCH, SESSION_START, SESSION_STOP, SOURCE, STATION_BOOTED, StationStore
from .tls import TlsListener, tls_listener_context

log = structlog.get_logger(__name__)
REMOTE_START_SWEEP_S = 5.0

FAILURE_EVENTS = {
    SESSION_START: "start session failed",
    SESSION_STOP: "stop session failed",
    STATION_BOOTED: "stop session failed",
    METER_VALUES: "failed to store meter value",
    METER_VALUES_BATCH: "failed to store meter value",
}


async def _gateway_context(app: web.Application) -> AsyncIterator[None]:
    pool = app[DB_POOL]
    settings = app[SETTINGS]
    assert isinstance(settings, OcppSettings)
    committer = GroupCommitter(pool, SOURCE, after_commit=app[OUTBOX].wake,
                               on_batch=metrics.GROUP_COMMIT_BATCH.observe)
    frame_log = FrameLog(pool, settings.frame_log_flush_interval)
    app[COMMITTER], app[FRAME_LOG] = committer, frame_log
    app[STORE] = StationStore(committer, pool)
    app[AUTH] = AuthClient(app[HTTP], settings.auth_url)
    committer.start()
    frame_log.start()
    sweeper = asyncio.create_task(_expire_remote_starts_forever(app[STORE]))
    yield
    sweeper.cancel()
    await asyncio.gather(sweeper, return_exceptions=True)
    await committer.stop()
    await frame_log.stop()


async def _expire_remote_starts_forever(store: StationStore) -> None:
    while True:
        await asyncio.sleep(REMOTE_START_SWEEP_S)
        try:
            for expired in await store.expire_remote_starts():
                log.info("remote start expired", station_id=expired["station_id"], id_tag=expired["id_tag"])
        except Exception as exc:
            log.warning("remote start sweep failed", error=repr(exc))


async def _close_sockets(app: web.Application) -> None:
    await app[REGISTRY].close_all()


def create_app(settings: OcppSettings) -> web.Application:
    app = base_app(settings)
    app[REGISTRY] = registry = ConnectionRegistry()
    metrics.CONNECTED_STATIONS.set_function(registry.__len__)
    app[HANDSHAKES] = HandshakeSlots(settings.max_pending_handshakes, settings.handshake_queue,
                                       settings.handshake_wait_s)
    app[AUTH_THROTTLE] = AuthThrottle(settings.auth_max_failures, settings.auth_failure_window_s)
    app.cleanup_ctx.append(http_client_context)
    app.cleanup_ctx.append(outbox_context(
        {"sessions": settings.sessions_url, "telemetry": settings.telemetry_url}, FAILURE_EVENTS))
    app.cleanup_ctx.append(_gateway_context)
    app.cleanup_ctx.append(commands_context)
    app.cleanup_ctx.append(dispatcher_context)
    app.cleanup_ctx.append(configuration_context)
    app.cleanup_ctx.append(security_context)
    app.cleanup_ctx.append(reservations_context)
    app.cleanup_ctx.append(balancer_context)
    app[TLS_LISTENER] = TlsListener()
    app.cleanup_ctx.append(tls_listener_context(serve_station))
    app.on_shutdown.append(_close_sockets)
    stations_api.add_routes(app)
    station_states_api.add_routes(app)
    commands_api.add_routes(app)
    diagnostics_api.add_routes(app)
    uploads_api.add_routes(app)
    firmware_api.add_routes(app)
    configuration_api.add_routes(app)
    security_api.add_routes(app)
    reservations_api.add_routes(app)
    local_list_api.add_routes(app)
    smart_charging_api.add_routes(app)
    app.router.add_get("/ocpp/ws", ocpp_websocket)
    app.router.add_get("/ocpp/{station_id}", ocpp_websocket)
    return app
