from __future__ import annotations

from aiohttp import web

from chargeplane.common.settings import DownstreamUrls, ServiceSettings, TokenSettings


class ApiGatewaySettings(ServiceSettings, DownstreamUrls, TokenSettings):
    service_name: str = "api-gateway"
    port: int = 8080
    # The console links a session to its trace in your tracing UI: `{trace_id}` is replaced, e.g.
    # http://localhost:16686/trace/{trace_id} (Jaeger). Unset: the console shows the trace id only.
    trace_url_template: str | None = None


API_SETTINGS = web.AppKey("api_settings", ApiGatewaySettings)
