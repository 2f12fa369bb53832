from __future__ import annotations

from chargeplane.common.settings import DownstreamUrls, ServiceSettings


class BillingSettings(ServiceSettings, DownstreamUrls):
    service_name: str = "billing"
    port: int = 8083
