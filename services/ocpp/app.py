"""The OCPP gateway: stations connect here over OCPP-J 1.6."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from chargeplane.common.httpclient import http_client_context
from chargeplane.common.keys import DB_POOL, OUTBOX, SETTINGS
from chargeplane.common.outbox import outbox_context
from chargeplane.common.web import base_app

from . import metrics
from .committer import GroupCommitter
from .connection import ocpp_websocket
from .framelog import FrameLog
from .keys import COMMITTER, FRAME_LOG, REGISTRY, STORE
from .registry import ConnectionRegistry
from .settings import OcppSettings
from .store import METER_VALUES, METER_VALUES_BATCH, SESSION_START, SESSION_STOP, SOURCE, STATION_BOOTED, StationStore

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
    app[STORE] = StationStore(committer)
    committer.start()
    frame_log.start()
    yield
    await committer.stop()
    await frame_log.stop()


async def _close_sockets(app: web.Application) -> None:
    await app[REGISTRY].close_all()


def create_app(settings: OcppSettings) -> web.Application:
    app = base_app(settings)
    app[REGISTRY] = registry = ConnectionRegistry()
    metrics.CONNECTED_STATIONS.set_function(registry.__len__)
    app.cleanup_ctx.append(http_client_context)
    app.cleanup_ctx.append(outbox_context(
        {"sessions": settings.sessions_url, "telemetry": settings.telemetry_url}, FAILURE_EVENTS))
    app.cleanup_ctx.append(_gateway_context)
    app.on_shutdown.append(_close_sockets)
    app.router.add_get("/ocpp/ws", ocpp_websocket)
    app.router.add_get("/ocpp/{station_id}", ocpp_websocket)
    return app
