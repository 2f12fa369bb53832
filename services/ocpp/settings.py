from __future__ import annotations

from chargeplane.common.settings import DownstreamUrls, ServiceSettings


class OcppSettings(ServiceSettings, DownstreamUrls):
    service_name: str = "ocpp"
    port: int = 8081
    frame_log_flush_interval: float = 0.5
    # A connection must have sent its whole upgrade request this soon after opening (slowloris).
    keepalive_timeout_s: float = 10.0
    # Limits on what a station may do; each is logged when hit (see `limits`).
    max_frame_bytes: int = 1 << 20  # a larger frame closes the socket with 1009
    message_rate: float = 50.0  # messages a second per station on average, in bursts of
    message_burst: int = 200  # up to this many; beyond, its messages wait their turn
    max_pending_handshakes: int = 500  # upgrades in progress at once; more are answered 503
    idle_heartbeats: float = 3.0  # a socket silent for this many heartbeat intervals is closed
    auth_max_failures: int = 5  # wrong passwords a station may try from one address
    auth_failure_window_s: float = 60.0  # within this long; then 429 until the window clears
