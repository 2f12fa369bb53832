from __future__ import annotations

from aiohttp import web

from chargeplane.common.settings import ServiceSettings


class TelemetrySettings(ServiceSettings):
    service_name: str = "telemetry"
    port: int = 8084
    # how often the energy rollups (materialized views) are refreshed, in seconds
    rollup_refresh_interval: float = 30.0


TELEMETRY_SETTINGS = web.AppKey("telemetry_settings", TelemetrySettings)
