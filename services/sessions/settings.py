from __future__ import annotations

from chargeplane.common.settings import DownstreamUrls, ServiceSettings


class SessionsSettings(ServiceSettings, DownstreamUrls):
    service_name: str = "sessions"
    port: int = 8082
