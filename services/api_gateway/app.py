"""The api-gateway: the public REST API `/api/v1`, JWT-protected, proxied to the services."""

from __future__ import annotations

from aiohttp import web

from chargeplane.common.httpclient import http_client_context
from chargeplane.common.metrics import metrics_view
from chargeplane.common.settings import SETTINGS
from chargeplane.common.web import error_middleware

from . import console_pages, views
from .auth import auth_middleware
from .live import end_streams, station_feed_context
from .routes import ROUTES
from .settings import API_SETTINGS, ApiGatewaySettings


async def _healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(settings: ApiGatewaySettings) -> web.Application:
    # No database: the api-gateway only forwards, so it has no pool (unlike base_app).
    app = web.Application(middlewares=[error_middleware, auth_middleware])
    app[SETTINGS] = settings
    app[API_SETTINGS] = settings
    app.cleanup_ctx.append(http_client_context)
    app.cleanup_ctx.append(station_feed_context)
    app.on_shutdown.append(end_streams)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _healthz)
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/api/v1/openapi.json", views.openapi)
    for route in ROUTES:
        view = views.forwarder(route) if route.upstream else getattr(views, route.handler)
        app.router.add_route(route.method, route.path, views.path_checked(route, view))
    console_pages.add_routes(app)
    return app
