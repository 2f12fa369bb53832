"""Names and labels of everything the operator creates (one place, used by builders and tests)."""

from __future__ import annotations

GROUP = "chargeplane.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
STATIONS = "chargingstations"
TARIFFS = "tariffs"
PLATFORMS = "platforms"
# A namespace's one Platform: the anchor that owns its shared objects (crds/platforms.chargeplane.io.yaml)
PLATFORM_KIND = "Platform"
PLATFORM_NAME = "chargeplane"
FINALIZER = "chargeplane.io/finalizer"
# Server-side apply field managers: one per writer, so that each owns the fields (and the
# status conditions) it sets and removes only what it stops setting. The change handlers write
# what follows from a resource's spec; the status loop writes what the gateway sees.
FIELD_MANAGER = "chargeplane-operator"
STATUS_FIELD_MANAGER = "chargeplane-operator-status"
# A Tariff annotated `chargeplane.io/deletion-protection: "false"` is not held (no finalizer) while
# stations bill with it: the chart's default Tariff, which `helm uninstall` deletes together
# with the operator's ServiceAccount and RBAC, so nobody would be left to let it go.
DELETION_PROTECTION = "chargeplane.io/deletion-protection"

# service name -> the port of its HTTP API (port `http`: the internal API, /metrics, probes; the
# public API for api-gateway); a namespace's platform has a Deployment and Service of each,
# named `chargeplane-<service>`
PLATFORM_SERVICES = {
    "ocpp": 8086, "sessions": 8082, "billing": 8083, "telemetry": 8084, "auth": 8085, "api-gateway": 8080,
}
# The gateway's listener for stations (port `ocpp`: OCPP, uploads, /healthz), the one port the
# chart publishes; its API port above is reached only inside the cluster.
GATEWAY_STATION_PORT = 8081
NAME_PREFIX = "chargeplane-"
# Where the gateway mounts its TLS Secret and the platform CA's (cert-manager's key names)
GATEWAY_TLS_DIR = "/etc/chargeplane/tls"
PLATFORM_CA_DIR = "/etc/chargeplane/ca"

# The Secrets of a namespace's platform, which its pods read through secretKeyRef: the
# database URL (the operator's own, kept in step with its settings) and the key auth signs
# API tokens with and api-gateway verifies them with (random, made once, never rotated).
DATABASE_SECRET = "chargeplane-platform-database"
DATABASE_URL_KEY = "url"
# the Redis URL, which may carry a password (chart value externalRedis.existingSecret)
REDIS_SECRET = "chargeplane-platform-redis"
JWT_SECRET = "chargeplane-platform-jwt"
JWT_SECRET_KEY = "jwt-secret"
# the services that hold the JWT key
JWT_SERVICES = ("auth", "api-gateway")

# Label keys. `chargeplane.io/service` selects a service's pods (the chart's NodePort
# Service for the gateway selects `chargeplane.io/service: ocpp`).
LABEL_SERVICE = "chargeplane.io/service"
LABEL_STATION = "chargeplane.io/station"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_NAME = "app.kubernetes.io/name"
LABEL_COMPONENT = "app.kubernetes.io/component"
PART_OF = "chargeplane"
MANAGED_BY = "chargeplane-operator"

# Every platform service serves Prometheus metrics here, on its API port (common/web.py).
METRICS_PATH = "/metrics"
