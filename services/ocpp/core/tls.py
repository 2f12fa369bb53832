"""The gateway's TLS listener (OCPP security profiles 2 and 3) and what a connection's
transport proves about the station.

The TLS port serves the same `/ocpp/...` routes as the plain one, on the same gateway
state: a second aiohttp runner whose handler hands each request to the main app. A client
certificate is optional in the handshake (profile 2 stations have none), but one that does
not chain to the configured CA fails the handshake, so a certificate that reaches the
gateway is a verified one.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from enum import IntEnum

import structlog
from aiohttp import web
from cryptography import x509

from chargeplane.common.certificates import common_name

from ..settings import OCPP_SETTINGS, OcppSettings

log = structlog.get_logger(__name__)


class Transport(IntEnum):
    """What a connection proves, ordered like the security profiles it satisfies: a
    station registered with profile P is admitted over a transport of at least P."""

    PLAIN = 1  # ws://, HTTP Basic if the station has a password
    TLS = 2  # wss://, HTTP Basic required
    MUTUAL_TLS = 3  # wss:// with a client certificate whose CN is the station id


@dataclass(slots=True)
class TlsListener:
    """Where the TLS listener listens, once it does (port 0 in settings: the kernel's choice)."""

    port: int | None = None


TLS_LISTENER = web.AppKey("tls_listener", TlsListener)


class CertificateMismatch(Exception):
    def __init__(self, common_name: str | None) -> None:
        super().__init__(f"the client certificate is for {common_name!r}")
        self.common_name = common_name


def server_ssl_context(settings: OcppSettings) -> ssl.SSLContext:
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        raise ValueError("TLS_PORT needs TLS_CERT_FILE and TLS_KEY_FILE")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # the whitepaper: TLS 1.2 or above
    context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    client_ca = settings.tls_client_ca_file or settings.ca_cert_file
    if client_ca is not None:
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def transport_of(request: web.Request, station_id: str) -> Transport:
    """What the request's connection proves; a client certificate for another station is
    refused (CertificateMismatch) rather than taken as a weaker transport."""
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport is not None else None
    if ssl_object is None:
        return Transport.PLAIN
    certificate_der = ssl_object.getpeercert(binary_form=True)
    if not certificate_der:
        return Transport.TLS
    name = common_name(x509.load_der_x509_certificate(certificate_der).subject)
    if name != station_id:
        raise CertificateMismatch(name)
    return Transport.MUTUAL_TLS


StationEndpoint = Callable[[web.Request, web.Application], Awaitable[web.StreamResponse]]


def tls_listener_context(handler: StationEndpoint) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that serves `handler` (the main app's station endpoint) over TLS."""

    async def serve(app: web.Application) -> AsyncIterator[None]:
        settings = app[OCPP_SETTINGS]
        if settings.tls_port is None:
            yield
            return

        async def on_tls(request: web.Request) -> web.StreamResponse:
            return await handler(request, app)

        tls_app = web.Application()
        tls_app.router.add_get("/ocpp/ws", on_tls)
        tls_app.router.add_get("/ocpp/{station_id}", on_tls)
        runner = web.AppRunner(tls_app, access_log=None, shutdown_timeout=settings.shutdown_timeout)
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.tls_port, ssl_context=server_ssl_context(settings),
                           backlog=settings.listen_backlog)
        await site.start()
        app[TLS_LISTENER].port = runner.addresses[0][1]
        log.info("starting ocpp tls listener", host=settings.host, port=app[TLS_LISTENER].port)
        try:
            yield
        finally:
            await runner.cleanup()

    return serve
