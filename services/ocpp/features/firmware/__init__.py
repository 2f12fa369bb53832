"""Firmware Management (with the security extension's signed firmware and logs): firmware
campaigns (UpdateFirmware, SignedUpdateFirmware, followed through the stations' firmware
status notifications), and diagnostics and logs (GetDiagnostics, GetLog) that stations upload
to the platform's upload endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from chargeplane.common.db import DB_POOL
from chargeplane.services.ocpp.core.feature import Feature

from . import campaign_views, campaigns, uploads, views
from .handlers import (
    diagnostics_status_notification,
    firmware_status_notification,
    log_status_notification,
    signed_firmware_status_notification,
)
from .repository import FIRMWARE, FirmwareRepository


async def _repository_context(app: web.Application) -> AsyncIterator[None]:
    app[FIRMWARE] = FirmwareRepository(app[DB_POOL])
    yield


FEATURE = Feature(
    name="firmware",
    handlers={
        "FirmwareStatusNotification": firmware_status_notification.handle,
        "DiagnosticsStatusNotification": diagnostics_status_notification.handle,
        "LogStatusNotification": log_status_notification.handle,
        "SignedFirmwareStatusNotification": signed_firmware_status_notification.handle,
    },
    views=[*campaign_views.routes, *views.routes, *uploads.routes],
    station_routes=uploads.STATION_ROUTES,
    contexts=(_repository_context, campaigns.dispatcher_context),
)
