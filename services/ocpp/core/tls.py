"""TLS for the stations' TLS listener (OCPP security profiles 2 and 3; `listeners`), and what a
connection's transport proves about the station.

A client certificate is optional in the handshake (profile 2 stations have none), but one that
does not chain to the configured CA fails the handshake, so a certificate that reaches the
gateway is a verified one.
"""

from __future__ import annotations

import ssl
from enum import IntEnum

from aiohttp import web
from cryptography import x509

from chargeplane.common.certificates import common_name

from ..settings import OcppSettings


class Transport(IntEnum):
    """What a connection proves, ordered like the security profiles it satisfies: a
    station registered with profile P is admitted over a transport of at least P."""

    PLAIN = 1  # ws://, HTTP Basic if the station has a password
    TLS = 2  # wss://, HTTP Basic required
    MUTUAL_TLS = 3  # wss:// with a client certificate whose CN is the station id


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
