"""The operator's own settings, from its environment (set by the Helm chart)."""

from __future__ import annotations

from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict


class OperatorSettings(BaseSettings):
    """Every field is read from `CHARGEPLANE_<FIELD>`; the chart sets them (a test
    keeps the chart's env and this model in step)."""

    model_config = SettingsConfigDict(env_prefix="CHARGEPLANE_", extra="ignore")

    # the one image of the platform: services, emulator and operator entry points
    image: str = "chargeplane:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    # the database owner's URL (CREATEDB and CREATEROLE, or a superuser): the operator makes each
    # namespace's database and role with it; it never leaves the operator's namespace
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
    # how often station status is read back from the platform, in seconds (one request per namespace)
    status_interval: float = 5.0
    # how often each namespace's platform is applied again (a deleted or edited Deployment,
    # Service, Secret or NetworkPolicy is restored), in seconds; changes apply at once besides
    reconcile_interval: float = 30.0
    # kopf peering (a ClusterKopfPeering of this name, which the chart installs): of several
    # operators, only the one of the highest priority acts; empty: standalone, no peering
    peering: str = "chargeplane"
    # this operator's priority among its peers; 0: a random one at start, so that of two
    # replicas exactly one acts (kopf pauses every operator while two share the highest priority)
    peering_priority: int = 0
    # the pods the operator makes: restricted Pod Security, and these scheduling settings
    pod_resources: dict[str, Any] = {"requests": {"cpu": "50m", "memory": "128Mi"}}
    pod_node_selector: dict[str, str] = {}
    pod_tolerations: list[dict[str, Any]] = []
    image_pull_secrets: list[str] = []
    # NetworkPolicies in every platform namespace: the internal ports only from the platform's own
    # pods, the operator's (this namespace and pod labels) and, for /metrics, the pods of
    # metrics_namespace; the station and public API ports from anywhere
    network_policies: bool = True
    operator_namespace: str = ""
    operator_pod_labels: dict[str, str] = {"app.kubernetes.io/component": "operator"}
    metrics_namespace: str = ""
    # seconds before a handler that waits (for a service, a Tariff, stations still using a Tariff) tries again
    retry_delay: float = 10.0
    # how the operator reaches a namespace's services; tests point it elsewhere
    service_url_template: str = "http://chargeplane-{service}.{namespace}.svc:{port}"
    # kopf's liveness endpoint (GET /healthz on all addresses); the chart's probe asks this port
    liveness_port: int = 8080
    # the operator's own Prometheus metrics (GET /metrics on all addresses; operator/metrics.py)
    metrics_port: int = 8090
