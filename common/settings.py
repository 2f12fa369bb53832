"""Settings shared by every service, read from the environment (pydantic-settings)."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """What every ChargePlane process needs; each service extends it."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    service_name: str = "chargeplane"
    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str = "postgresql://chargeplane@127.0.0.1:5432/chargeplane"
    redis_url: str = "redis://127.0.0.1:6379/0"
    db_pool_min: int = 1
    db_pool_max: int = 10
    log_level: str = "INFO"
    # Seconds aiohttp waits for open requests and sockets on shutdown; below the
    # pod's terminationGracePeriodSeconds (30 s by default).
    shutdown_timeout: float = 20.0
    # Pending TCP connections the kernel holds for accept(): after a restart thousands of
    # stations reconnect at once, and a connection dropped here costs a station seconds.
    listen_backlog: int = 4096
    # An HTTP connection idle this long is closed; idle counts from its opening too, so this
    # also bounds how long a client may take to send its first request.
    keepalive_timeout_s: float = 75.0
    # Outbox relay: how long to wait between retries of a failing downstream call.
    outbox_retry_min: float = 0.2
    outbox_retry_max: float = 30.0
    outbox_request_timeout: float = 5.0
    # OpenTelemetry: OTEL_EXPORTER_OTLP_ENDPOINT switches OTLP export on.
    otel_exporter_otlp_endpoint: str | None = None
    otel_sdk_disabled: bool = False


class DownstreamUrls(BaseSettings):
    """Where the internal services listen; the gateway and sessions call them."""

    model_config = SettingsConfigDict(extra="ignore")

    sessions_url: str = Field(default="http://127.0.0.1:8082")
    billing_url: str = Field(default="http://127.0.0.1:8083")
    telemetry_url: str = Field(default="http://127.0.0.1:8084")
    auth_url: str = Field(default="http://127.0.0.1:8085")
    # the gateway's internal API (never its station port)
    ocpp_http_url: str = Field(default="http://127.0.0.1:8086")


class TokenSettings(BaseSettings):
    """The JWT signing key and issuer, shared by auth (issues) and api-gateway (verifies)."""

    model_config = SettingsConfigDict(extra="ignore")

    jwt_secret: str = "change-me-chargeplane-dev-secret-32b"
    jwt_issuer: str = "chargeplane"


# The settings every app keeps; a service keeps its own class under a key of its own as well.
SETTINGS = web.AppKey("settings", ServiceSettings)
