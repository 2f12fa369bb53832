"""The operator's own settings, from its environment (set by the Helm chart)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class OperatorSettings(BaseSettings):
    """Every field is read from `CHARGEPLANE_<FIELD>`; the chart sets them (a test
    keeps the chart's env and this model in step)."""

    model_config = SettingsConfigDict(env_prefix="CHARGEPLANE_", extra="ignore")

    # the one image of the platform: services, emulator and operator entry points
    image: str = "chargeplane:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    database_url: str = "postgresql://chargeplane:chargeplane@chargeplane-postgresql:5432/chargeplane"
    redis_url: str = "redis://chargeplane-redis:6379/0"
    # OTLP/HTTP endpoint the services export traces to; empty turns export off
    otlp_endpoint: str = ""
    log_level: str = "INFO"
    # the gateway gets one replica per this many stations in its namespace, at most max
    stations_per_gateway_replica: int = 5000
    gateway_max_replicas: int = 10
    # OCPP security profiles 2 and 3: the Secret (in each platform namespace) with the gateway's
    # TLS certificate as cert-manager writes it (tls.crt, tls.key, ca.crt); empty: no TLS listener
    gateway_tls_secret: str = ""
    gateway_tls_port: int = 8443
    # where stations outside the cluster reach the gateway over HTTP to upload GetDiagnostics and
    # GetLog files (its UPLOAD_BASE_URL, e.g. http://csms.example.com:8081); empty: the address a
    # command came in on, which only stations inside the cluster can reach
    gateway_upload_base_url: str = ""
    # the Secret with the platform CA (tls.crt, tls.key) that signs stations' CSRs; empty: SignCertificate is Rejected
    platform_ca_secret: str = ""
    # how often station status is read back from the platform, in seconds
    status_interval: float = 5.0
    # seconds before a handler that waits (for a service, a Tariff, stations still using a Tariff) tries again
    retry_delay: float = 10.0
    # how the operator reaches a namespace's services; tests point it elsewhere
    service_url_template: str = "http://chargeplane-{service}.{namespace}.svc:{port}"
    # kopf's liveness endpoint (GET /healthz on all addresses); the chart's probe asks this port
    liveness_port: int = 8080
