"""The billing service: one priced bill per finished session."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from chargeplane.common.db import DB_POOL
from chargeplane.common.event_batches import add_event_routes
from chargeplane.common.httpclient import http_client_context
from chargeplane.common.outbox_events import SESSION_STOPPED
from chargeplane.common.web import base_app

from . import views
from .readings import READING_WAITS, ReadingWaits
from .repository import REPOSITORY, BillingRepository
from .settings import BILLING_SETTINGS, BillingSettings


async def _repository_context(app: web.Application) -> AsyncIterator[None]:
    repository = BillingRepository(app[DB_POOL])
    await repository.seed_default_tariff()
    app[REPOSITORY] = repository
    yield


def create_app(settings: BillingSettings) -> web.Application:
    app = base_app(settings)
    app[BILLING_SETTINGS] = settings
    app[READING_WAITS] = ReadingWaits(settings.reading_wait_s)
    app.cleanup_ctx.append(http_client_context)
    app.cleanup_ctx.append(_repository_context)
    add_event_routes(app, {SESSION_STOPPED: views.session_stopped}, merged={SESSION_STOPPED: views.sessions_stopped})
    app.router.add_get("/internal/billing/transactions", views.list_bills)
    app.router.add_get("/internal/tariffs", views.list_tariffs)
    app.router.add_get("/internal/tariffs/{tariff_id}", views.get_tariff)
    app.router.add_put("/internal/tariffs/{tariff_id}", views.put_tariff)
    app.router.add_delete("/internal/tariffs/{tariff_id}", views.delete_tariff)
    app.router.add_put("/internal/stations/{station_id}/tariff", views.put_station_tariff)
    app.router.add_delete("/internal/stations/{station_id}/tariff", views.delete_station_tariff)
    return app
