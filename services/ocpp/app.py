"""The OCPP gateway: stations connect here over OCPP-J 1.6. The core (`core/`) serves the
features (`features/`), one per OCPP functional block, put together here."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from chargeplane.common.db import DB_POOL
from chargeplane.common.httpclient import HTTP, http_client_context
from chargeplane.common.outbox import OUTBOX, outbox_context
from chargeplane.common.outbox_events import (
    METER_VALUES,
    METER_VALUES_BATCH,
    SESSION_START,
    SESSION_STOP,
    STATION_BOOTED,
)
from chargeplane.common.web import base_app

from .core import metrics, views
from .core.auth_client import AUTH, AuthClient
from .core.commands import commands_context
from .core.committer import GroupCommitter
from .core.connection import OCPP_ROUTES
from .core.feature import FEATURES, Feature, Features
from .core.framelog import FRAME_LOG, FrameLog
from .core.limits import AUTH_THROTTLE, HANDSHAKES, AuthThrottle, HandshakeSlots
from .core.listeners import STATION_LISTENERS, StationListeners, station_listeners_context
from .core.registry import REGISTRY, ConnectionRegistry
from .core.repository import STATIONS, StationRepository
from .core.store import SOURCE, STORE, StationStore
from .features import (
    configuration,
    core_messages,
    data_transfer,
    firmware,
    local_list,
    reservations,
    security,
    smart_charging,
)
from .settings import OCPP_SETTINGS, OcppSettings

# In this order their recorders and hooks run (configuration keeps a ChangeConfiguration before
# security turns an AuthorizationKey into a password).
FEATURES_IN_ORDER: tuple[Feature, ...] = (
    core_messages.FEATURE,
    configuration.FEATURE,
    reservations.FEATURE,
    local_list.FEATURE,
    smart_charging.FEATURE,
    security.FEATURE,
    firmware.FEATURE,
    data_transfer.FEATURE,
)

FAILURE_EVENTS = {
    SESSION_START: "start session failed",
    SESSION_STOP: "stop session failed",
    STATION_BOOTED: "stop session failed",
    METER_VALUES: "failed to store meter value",
    METER_VALUES_BATCH: "failed to store meter value",
}


async def _gateway_context(app: web.Application) -> AsyncIterator[None]:
    pool, settings = app[DB_POOL], app[OCPP_SETTINGS]
    committer = GroupCommitter(pool, SOURCE, after_commit=app[OUTBOX].wake,
                               on_batch=metrics.GROUP_COMMIT_BATCH.observe)
    frame_log = app[FRAME_LOG] = FrameLog(pool, settings.frame_log_flush_interval)
    app[STORE] = StationStore(committer, app[FEATURES].on_transactions)
    app[STATIONS] = StationRepository(pool)
    app[AUTH] = AuthClient(app[HTTP], settings.auth_url)
    committer.start()
    frame_log.start()
    yield
    await committer.stop()
    await frame_log.stop()


async def _close_sockets(app: web.Application) -> None:
    await app[STATION_LISTENERS].stop_accepting()
    await app[REGISTRY].close_all()


def create_app(settings: OcppSettings, features: tuple[Feature, ...] = FEATURES_IN_ORDER) -> web.Application:
    app = base_app(settings)
    app[OCPP_SETTINGS] = settings
    app[FEATURES] = gateway_features = Features(app, features)
    app[REGISTRY] = registry = ConnectionRegistry()
    metrics.CONNECTED_STATIONS.set_function(registry.__len__)
    app[HANDSHAKES] = HandshakeSlots(settings.max_pending_handshakes, settings.handshake_queue,
                                     settings.handshake_wait_s)
    app[AUTH_THROTTLE] = AuthThrottle(settings.auth_max_failures, settings.auth_failure_window_s)
    app.cleanup_ctx.append(http_client_context)
    app.cleanup_ctx.append(outbox_context(
        {"sessions": settings.sessions_url, "telemetry": settings.telemetry_url}, FAILURE_EVENTS))
    app.cleanup_ctx.append(_gateway_context)
    app.cleanup_ctx.append(commands_context(gateway_features.recorders))
    for feature in features:  # after the core's: a feature's objects use the store and the command router
        app.cleanup_ctx.extend(feature.contexts)
    # last: stations connect once everything they use is there
    app[STATION_LISTENERS] = StationListeners()
    app.cleanup_ctx.append(station_listeners_context(
        [*OCPP_ROUTES, *(route for feature in features for route in feature.station_routes)]))
    app.on_shutdown.append(_close_sockets)
    app.router.add_routes(views.routes)
    for feature in features:
        app.router.add_routes(feature.views)
    return app
