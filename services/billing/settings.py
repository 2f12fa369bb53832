from __future__ import annotations

from aiohttp import web

from chargeplane.common.settings import DownstreamUrls, ServiceSettings


class BillingSettings(ServiceSettings, DownstreamUrls):
    service_name: str = "billing"
    port: int = 8083
    # the longest a bill waits for telemetry to hold the session's last meter reading, in seconds
    reading_wait_s: float = 300.0


BILLING_SETTINGS = web.AppKey("billing_settings", BillingSettings)
