"""The listeners stations reach, and only what a station uses there.

The gateway's app (its state, the internal API `/internal/*`, `/metrics`, `/readyz`) listens
on `internal_port`, which is never published: the platform's services, the operator and
admin tools call it. Stations connect to a listener of their own: `port` (plain, security
profile 1) and, with certificate files, `tls_port` (profiles 2 and 3). There each serves OCPP
(`/ocpp/{station_id}`, `/ocpp/ws?station_id=`), the upload endpoint of the features
(`Feature.station_routes`) and `/healthz`, and nothing else: a station, or anyone who can
reach a station port, can never call the internal API.

A station listener is an aiohttp runner of its own whose handlers are given the gateway's
app, so they work on the same state as the rest of the gateway.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import structlog
from aiohttp import web

from chargeplane.common.web import error_middleware, json_response

from ..settings import OCPP_SETTINGS
from .tls import server_ssl_context

log = structlog.get_logger(__name__)

# A station's request and the gateway's app (not the listener's) it is served with.
StationEndpoint = Callable[[web.Request, web.Application], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class StationRoute:
    method: str
    path: str
    endpoint: StationEndpoint


@dataclass(slots=True)
class StationListeners:
    """Where the station listeners listen once they do (port 0 in settings: the kernel's choice)."""

    port: int | None = None
    tls_port: int | None = None
    _sites: list[web.BaseSite] = field(default_factory=list)

    async def stop_accepting(self) -> None:
        """On shutdown, before the stations' sockets are closed: no station connects meanwhile."""
        for site in self._sites:
            await site.stop()


STATION_LISTENERS = web.AppKey("station_listeners", StationListeners)


async def _healthz(_: web.Request, __: web.Application) -> web.Response:
    return json_response({"status": "ok"})


def _station_app(app: web.Application, routes: Sequence[StationRoute]) -> web.Application:
    station_app = web.Application(middlewares=[error_middleware])
    for route in (*routes, StationRoute("GET", "/healthz", _healthz)):
        station_app.router.add_route(route.method, route.path, functools.partial(_serve, route.endpoint, app))
    return station_app


async def _serve(endpoint: StationEndpoint, app: web.Application, request: web.Request) -> web.StreamResponse:
    return await endpoint(request, app)


def station_listeners_context(routes: Sequence[StationRoute]) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that serves `routes` (and /healthz) to stations, plain and over TLS."""

    async def serve(app: web.Application) -> AsyncIterator[None]:
        settings, listeners = app[OCPP_SETTINGS], app[STATION_LISTENERS]
        runners: list[web.AppRunner] = []

        async def listen(port: int, ssl_context: ssl.SSLContext | None) -> int:
            runner = web.AppRunner(_station_app(app, routes), access_log=None,
                                   shutdown_timeout=settings.shutdown_timeout,
                                   keepalive_timeout=settings.keepalive_timeout_s)
            await runner.setup()
            runners.append(runner)
            site = web.TCPSite(runner, settings.host, port, ssl_context=ssl_context, backlog=settings.listen_backlog)
            await site.start()
            listeners._sites.append(site)
            bound: int = runner.addresses[0][1]
            return bound

        try:
            listeners.port = await listen(settings.port, None)
            log.info("starting ocpp station listener", host=settings.host, port=listeners.port)
            if settings.tls_port is not None:
                listeners.tls_port = await listen(settings.tls_port, server_ssl_context(settings))
                log.info("starting ocpp tls listener", host=settings.host, port=listeners.tls_port)
            yield
        finally:
            for runner in reversed(runners):
                await runner.cleanup()

    return serve
