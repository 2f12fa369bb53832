from __future__ import annotations

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
