"""The telemetry service: every sampled meter value, and energy rollups."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from chargeplane.common.db import DB_POOL
from chargeplane.common.event_batches import add_event_routes
from chargeplane.common.outbox_events import METER_VALUES, METER_VALUES_BATCH
from chargeplane.common.web import base_app

from . import views
from .repository import REPOSITORY, TelemetryRepository
from .settings import TELEMETRY_SETTINGS, TelemetrySettings

log = structlog.get_logger(__name__)


async def _refresh_forever(repository: TelemetryRepository, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await repository.refresh_rollups()
        except Exception as exc:
            log.warning("energy rollup refresh failed", error=repr(exc))


async def _repository_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[TELEMETRY_SETTINGS]
    repository = TelemetryRepository(app[DB_POOL])
    app[REPOSITORY] = repository
    refresher = asyncio.create_task(_refresh_forever(repository, settings.rollup_refresh_interval))
    yield
    refresher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await refresher


def create_app(settings: TelemetrySettings) -> web.Application:
    # the gateway sends the MeterValues of a whole group commit (up to 2048 stations) at once
    app = base_app(settings, client_max_size=64 * 1024**2)
    app[TELEMETRY_SETTINGS] = settings
    app.cleanup_ctx.append(_repository_context)
    add_event_routes(app, {METER_VALUES: views.store_meter_values, METER_VALUES_BATCH: views.store_meter_values_batch},
                     merged=dict.fromkeys((METER_VALUES, METER_VALUES_BATCH), views.store_merged))
    app.router.add_get("/internal/sessions/{session_id}/energy-samples", views.energy_samples)
    app.router.add_post(views.ENERGY_SERIES_PATH, views.energy_series)
    app.router.add_post("/internal/rollups/refresh", views.refresh_rollups)
    return app
