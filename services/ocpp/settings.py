from __future__ import annotations

from pathlib import Path

from chargeplane.common.settings import DownstreamUrls, ServiceSettings


class OcppSettings(ServiceSettings, DownstreamUrls):
    service_name: str = "ocpp"
    port: int = 8081
    frame_log_flush_interval: float = 0.5
    # Where stations reach this gateway over HTTP, for the upload locations of GetDiagnostics
    # and GetLog (`{upload_base_url}/uploads/{token}`). Unset: the address the command came in on.
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
