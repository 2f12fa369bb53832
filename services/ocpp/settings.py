"""The gateway's settings, read from the environment."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from chargeplane.common.settings import DownstreamUrls, ServiceSettings


class OcppSettings(ServiceSettings, DownstreamUrls):
    service_name: str = "ocpp"
    # Where stations connect (OCPP, uploads, /healthz): the port to publish (core/listeners.py).
    port: int = 8081
    # The internal API (/internal/*), /metrics and /readyz: the platform's services, the operator
    # and admin tools call it; never publish it.
    internal_port: int = 8086
    frame_log_flush_interval: float = 0.5
    # A connection must have sent its whole upgrade request this soon after opening (slowloris).
    keepalive_timeout_s: float = 10.0
    # Limits on what a station may do; each is logged when hit (see `limits`).
    max_frame_bytes: int = 1 << 20  # a larger frame closes the socket with 1009
    message_rate: float = 50.0  # messages a second per station on average, in bursts of
    message_burst: int = 200  # up to this many; beyond, its messages wait their turn
    max_pending_handshakes: int = 500  # upgrades in progress at once; more wait in a queue of
    handshake_queue: int = 10_000  # up to this many, each for at most
    handshake_wait_s: float = 10.0  # this long; beyond either, 503 with Retry-After
    idle_heartbeats: float = 3.0  # a socket silent for this many heartbeat intervals is closed
    auth_max_failures: int = 5  # wrong passwords a station may try from one address
    auth_failure_window_s: float = 60.0  # within this long; then 429 until the window clears
    # Where stations reach this gateway over HTTP, for the upload locations of GetDiagnostics
    # and GetLog (`{upload_base_url}/uploads/{token}`). Unset: the host the command came in on,
    # at the station port.
    upload_base_url: str | None = None
    upload_max_bytes: int = 50 * 1024 * 1024
    # How long a station may upload to the location it was given.
    upload_window_s: int = 24 * 3600
    # OCPP security profiles 2 and 3: a second listener with TLS, on tls_port, when the
    # certificate files are given (in Kubernetes, a cert-manager Secret's tls.crt, tls.key, ca.crt).
    tls_port: int | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # The CAs a station's client certificate may chain to (profile 3); the platform CA when unset.
    tls_client_ca_file: Path | None = None
    # The platform CA that signs stations' CSRs (SignCertificate); without it they are Rejected.
    ca_cert_file: Path | None = None
    ca_key_file: Path | None = None
    station_certificate_days: int = 365


OCPP_SETTINGS = web.AppKey("ocpp_settings", OcppSettings)
