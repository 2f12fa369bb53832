from __future__ import annotations

from aiohttp import web

from chargeplane.common.settings import DownstreamUrls, ServiceSettings, TokenSettings


class ApiGatewaySettings(ServiceSettings, DownstreamUrls, TokenSettings):
    service_name: str = "api-gateway"
    port: int = 8080


API_SETTINGS = web.AppKey("api_settings", ApiGatewaySettings)
