from __future__ import annotations

from aiohttp import web

from .repository import TelemetryRepository

REPOSITORY = web.AppKey("telemetry_repository", TelemetryRepository)
