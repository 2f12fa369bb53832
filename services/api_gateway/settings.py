from __future__ import annotations

from chargeplane.common.settings import DownstreamUrls, ServiceSettings, TokenSettings


class ApiGatewaySettings(ServiceSettings, DownstreamUrls, TokenSettings):
    service_name: str = "api-gateway"
    port: int = 8080
