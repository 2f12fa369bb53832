from __future__ import annotations

from chargeplane.common.settings import DownstreamUrls, ServiceSettings


class OcppSettings(ServiceSettings, DownstreamUrls):
    service_name: str = "ocpp"
    port: int = 8081
    frame_log_flush_interval: float = 0.5
