"""The sessions service: charging_sessions, whose id is the OCPP transactionId."""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from chargeplane.common.db import DB_POOL
from chargeplane.common.event_batches import add_event_routes
from chargeplane.common.httpclient import http_client_context
from chargeplane.common.outbox import outbox_context
from chargeplane.common.outbox_events import SESSION_START, SESSION_STOP, SESSION_STOPPED, STATION_BOOTED
from chargeplane.common.web import REDIS, base_app

from . import views
from .repository import REPOSITORY, SessionRepository
from .settings import SessionsSettings

log = structlog.get_logger(__name__)


async def _repository_context(app: web.Application) -> AsyncIterator[None]:
    repository = SessionRepository(app[DB_POOL], app[REDIS])
    app[REPOSITORY] = repository
    try:
        log.info("active session cache rebuilt", sessions=await repository.rebuild_cache())
    except Exception as exc:  # Redis down at start: the cache fills itself later
        log.warning("active session cache not rebuilt", error=repr(exc))
    yield


def create_app(settings: SessionsSettings) -> web.Application:
    app = base_app(settings, with_redis=True)
    app.cleanup_ctx.append(http_client_context)
    app.cleanup_ctx.append(outbox_context({"billing": settings.billing_url},
                                          {SESSION_STOPPED: "failed to create billing transaction"}))
    app.cleanup_ctx.append(_repository_context)
    add_event_routes(app, {SESSION_START: views.session_start, SESSION_STOP: views.session_stop,
                           STATION_BOOTED: views.station_booted},
                     merged=dict.fromkeys((SESSION_START, SESSION_STOP, STATION_BOOTED), views.session_events))
    app.router.add_get("/internal/sessions", views.search_sessions)
    app.router.add_get("/internal/sessions/active", views.active_sessions)
    app.router.add_get("/internal/sessions/{session_id}", views.get_session)
    return app
