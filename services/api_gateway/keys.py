from __future__ import annotations

from aiohttp import web

from .settings import ApiGatewaySettings

API_SETTINGS = web.AppKey("api_settings", ApiGatewaySettings)
