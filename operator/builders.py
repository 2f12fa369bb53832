"""Pure builders: custom resources and operator settings in, Kubernetes manifests and
platform request bodies out. No I/O here; the handlers send what these return."""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping
from typing import Any

from .constants import (
    API_VERSION,
    DATABASE_SECRET,
    DATABASE_URL_KEY,
    GATEWAY_STATION_PORT,
    GATEWAY_TLS_DIR,
    JWT_SECRET,
    JWT_SECRET_KEY,
    JWT_SERVICES,
    LABEL_COMPONENT,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    LABEL_PART_OF,
    LABEL_SERVICE,
    LABEL_STATION,
    MANAGED_BY,
    METRICS_PATH,
    NAME_PREFIX,
    PART_OF,
    PLATFORM_CA_DIR,
    PLATFORM_KIND,
    PLATFORM_NAME,
    PLATFORM_SERVICES,
    REDIS_SECRET,
)
from .settings import OperatorSettings

Manifest = dict[str, Any]
OwnerReference = Mapping[str, Any]

PASSWORD_KEY = "password"
# Defaults of the ChargingStation schema, repeated for objects the API server did not default (tests).
DEFAULT_HEARTBEAT_INTERVAL = 300
# spec.chargingLimit's ChargePointMaxProfile: its id (profiles from 900000 up are the platform's), its
# stack level, and the fixed moment its schedule starts (so the same spec is always the same profile).
CHARGING_LIMIT_PROFILE_ID = 900_000
CHARGING_LIMIT_STACK_LEVEL = 1
CHARGING_LIMIT_SINCE = "2000-01-01T00:00:00Z"
DEFAULT_SIMULATOR = {"sessions": 0, "sessionSeconds": 60, "pauseSeconds": 30, "powerKw": 11, "meterIntervalSeconds": 10}
# The image's user (Dockerfile): a number, so that runAsNonRoot can be checked without /etc/passwd
IMAGE_UID = 10001
# The public ports: stations reach the gateway's, API clients and people the api-gateway's
STATION_PORT_NAMES = ("http", "ocpps")


def platform_name(service: str) -> str:
    return f"{NAME_PREFIX}{service}"


def service_url(service: str) -> str:
    """How one service of a namespace's platform reaches another (same namespace)."""
    return f"http://{platform_name(service)}:{PLATFORM_SERVICES[service]}"


def gateway_replicas(stations: int, settings: OperatorSettings) -> int:
    """ceil(stations / stations_per_gateway_replica), at least 1, at most gateway_max_replicas."""
    wanted = math.ceil(stations / settings.stations_per_gateway_replica)
    return max(1, min(wanted, settings.gateway_max_replicas))


def owner_references(owners: Iterable[OwnerReference]) -> list[dict[str, Any]]:
    """Sorted by uid, so the same owners always give the same patch."""
    return sorted((dict(owner) for owner in owners), key=lambda owner: str(owner["uid"]))


def _labels(name: str, component: str) -> dict[str, str]:
    return {LABEL_NAME: name, LABEL_COMPONENT: component, LABEL_PART_OF: PART_OF, LABEL_MANAGED_BY: MANAGED_BY}


def _selector(service: str) -> dict[str, str]:
    # never changes once created: a Deployment's selector is immutable
    return {LABEL_PART_OF: PART_OF, LABEL_SERVICE: service}


def scrape_annotations(service: str) -> dict[str, str]:
    """The `prometheus.io/*` annotations that annotation-based Prometheus discovery reads
    (the pods job and the service-endpoints job); the chart's ServiceMonitor is the
    Prometheus Operator's way to the same endpoints."""
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(PLATFORM_SERVICES[service]),
            "prometheus.io/path": METRICS_PATH}


def _container_security() -> dict[str, Any]:
    """The restricted Pod Security Standard's container half, and a read-only root filesystem
    (the services write nothing but /tmp, an emptyDir)."""
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True,
            "runAsNonRoot": True}


TMP_VOLUME = {"name": "tmp", "emptyDir": {}}
TMP_MOUNT = {"name": "tmp", "mountPath": "/tmp"}


def _pod_spec(settings: OperatorSettings, containers: list[Manifest], **more: Any) -> Manifest:
    """A pod that meets the restricted Pod Security Standard, needs no API token, and is
    scheduled as the operator's settings say (the chart's values)."""
    for container in [*containers, *more.get("initContainers", [])]:
        container["securityContext"] = _container_security()
        container.setdefault("volumeMounts", []).append(TMP_MOUNT)
    pod: Manifest = {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": IMAGE_UID, "runAsGroup": IMAGE_UID,
                            "fsGroup": IMAGE_UID, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": containers,
        **more,
    }
    pod["volumes"] = [*more.get("volumes", []), TMP_VOLUME]
    if settings.pod_node_selector:
        pod["nodeSelector"] = dict(settings.pod_node_selector)
    if settings.pod_tolerations:
        pod["tolerations"] = [dict(t) for t in settings.pod_tolerations]
    if settings.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": name} for name in settings.image_pull_secrets]
    return pod


def _from_secret(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _database_url_env() -> dict[str, Any]:
    return _from_secret("DATABASE_URL", DATABASE_SECRET, DATABASE_URL_KEY)


def build_service_env(service: str, settings: OperatorSettings) -> list[dict[str, Any]]:
    """The environment of one platform service (the cluster twin of `chargeplane up`'s); the
    database URL and the JWT key come from the namespace's platform Secrets."""
    env = {
        "SERVICE_NAME": service,
        "HOST": "0.0.0.0",
        "PORT": str(GATEWAY_STATION_PORT if service == "ocpp" else PLATFORM_SERVICES[service]),
        "SESSIONS_URL": service_url("sessions"),
        "BILLING_URL": service_url("billing"),
        "TELEMETRY_URL": service_url("telemetry"),
        "AUTH_URL": service_url("auth"),
        "OCPP_HTTP_URL": service_url("ocpp"),
        # always present, so that switching export off removes the endpoint on the next patch
        "OTEL_EXPORTER_OTLP_ENDPOINT": settings.otlp_endpoint,
        "OTEL_SERVICE_NAME": service,
        "LOG_LEVEL": settings.log_level,
    }
    if service == "ocpp":
        env |= _gateway_env(settings)
    secrets = [_database_url_env(), _from_secret("REDIS_URL", REDIS_SECRET, DATABASE_URL_KEY)]
    if service in JWT_SERVICES:
        secrets.append(_from_secret("JWT_SECRET", JWT_SECRET, JWT_SECRET_KEY))
    return [*({"name": key, "value": value} for key, value in env.items()), *secrets]


def _gateway_env(settings: OperatorSettings) -> dict[str, str]:
    """The gateway's own settings (services/ocpp/settings.py): its internal API's port (PORT is
    the stations'), its TLS listener and platform CA, from mounted Secrets, and where stations
    upload files, each only when configured."""
    env = {"INTERNAL_PORT": str(PLATFORM_SERVICES["ocpp"])}
    if settings.gateway_tls_secret:
        env |= {"TLS_PORT": str(settings.gateway_tls_port), "TLS_CERT_FILE": f"{GATEWAY_TLS_DIR}/tls.crt",
                "TLS_KEY_FILE": f"{GATEWAY_TLS_DIR}/tls.key", "TLS_CLIENT_CA_FILE": f"{GATEWAY_TLS_DIR}/ca.crt"}
    if settings.platform_ca_secret:
        env |= {"CA_CERT_FILE": f"{PLATFORM_CA_DIR}/tls.crt", "CA_KEY_FILE": f"{PLATFORM_CA_DIR}/tls.key"}
    if settings.gateway_upload_base_url:
        env["UPLOAD_BASE_URL"] = settings.gateway_upload_base_url
    return env


def _gateway_secret_volumes(settings: OperatorSettings) -> tuple[list[Manifest], list[Manifest]]:
    """(volumes, mounts) of the gateway's TLS Secret and the platform CA's. A missing Secret
    keeps the pod from starting, which says plainly what is wrong."""
    volumes, mounts = [], []
    for name, secret, path in (("gateway-tls", settings.gateway_tls_secret, GATEWAY_TLS_DIR),
                               ("platform-ca", settings.platform_ca_secret, PLATFORM_CA_DIR)):
        if secret:
            volumes.append({"name": name, "secret": {"secretName": secret}})
            mounts.append({"name": name, "mountPath": path, "readOnly": True})
    return volumes, mounts


def build_platform_deployment(service: str, *, settings: OperatorSettings, replicas: int,
                              owner: OwnerReference) -> Manifest:
    name = platform_name(service)
    labels = {**_labels(name, service), LABEL_SERVICE: service}
    probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10, "failureThreshold": 3}
    ports = [{"name": "http", "containerPort": PLATFORM_SERVICES[service], "protocol": "TCP"}]
    volumes, mounts = _gateway_secret_volumes(settings) if service == "ocpp" else ([], [])
    if service == "ocpp":  # `http` is the internal API (probes, metrics); stations come in here
        ports.append({"name": "ocpp", "containerPort": GATEWAY_STATION_PORT, "protocol": "TCP"})
    if service == "ocpp" and settings.gateway_tls_secret:
        ports.append({"name": "ocpps", "containerPort": settings.gateway_tls_port, "protocol": "TCP"})
    container: Manifest = {
        "name": service,
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        # -P: the working directory stays off sys.path, whatever the image's WORKDIR holds
        "command": ["python", "-P", "-m", f"chargeplane.services.{service.replace('-', '_')}"],
        "env": build_service_env(service, settings),
        "ports": ports,
        "livenessProbe": probe,
        "readinessProbe": {**probe, "httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5},
        "resources": dict(settings.pod_resources),
        "volumeMounts": mounts,
    }
    migrate: Manifest = {
        # migrations are idempotent and advisory-locked, so every pod may run them
        "name": "migrate",
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["chargeplane", "migrate"],
        "env": [_database_url_env()],
        "resources": dict(settings.pod_resources),
    }
    pod = _pod_spec(settings, [container], initContainers=[migrate], volumes=volumes,
                    # above the services' 20 s graceful shutdown (ServiceSettings.shutdown_timeout)
                    terminationGracePeriodSeconds=30)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels, "ownerReferences": owner_references([owner])},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": _selector(service)},
            "template": {"metadata": {"labels": labels, "annotations": scrape_annotations(service)}, "spec": pod},
        },
    }


def build_platform_service(service: str, *, owner: OwnerReference, tls_port: int | None = None) -> Manifest:
    """`tls_port`: the gateway's TLS listener, served beside its plain port."""
    name = platform_name(service)
    port = PLATFORM_SERVICES[service]
    ports = [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]
    if service == "ocpp":
        ports.append({"name": "ocpp", "port": GATEWAY_STATION_PORT, "targetPort": "ocpp", "protocol": "TCP"})
    if tls_port is not None:
        ports.append({"name": "ocpps", "port": tls_port, "targetPort": "ocpps", "protocol": "TCP"})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": {**_labels(name, service), LABEL_SERVICE: service},
                     "annotations": scrape_annotations(service), "ownerReferences": owner_references([owner])},
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(service),
            "ports": ports,
        },
    }


def _platform_secret(name: str, component: str, data: dict[str, str], owner: OwnerReference) -> Manifest:
    """`data`, not `stringData`: server-side apply owns fields as written, and the API server
    folds stringData into data, so an applied stringData would never match what is stored."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": _labels(name, component), "ownerReferences": owner_references([owner])},
        "type": "Opaque",
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
    }


def build_database_secret(database_url: str, *, owner: OwnerReference) -> Manifest:
    """The database URL of a namespace's platform: its own role's, on its own database (databases.py)."""
    return _platform_secret(DATABASE_SECRET, "database", {DATABASE_URL_KEY: database_url}, owner)


def build_redis_secret(settings: OperatorSettings, *, owner: OwnerReference) -> Manifest:
    """The Redis URL of a namespace's platform, which may hold a password: a Secret, like the database's."""
    return _platform_secret(REDIS_SECRET, "redis", {DATABASE_URL_KEY: settings.redis_url}, owner)


def build_jwt_secret(key: str, *, owner: OwnerReference) -> Manifest:
    """The key auth signs API tokens with and api-gateway verifies them with. Created once with
    a random `key` and never applied again, so never rotated (every token issued would turn invalid)."""
    return _platform_secret(JWT_SECRET, "jwt", {JWT_SECRET_KEY: key}, owner)


def build_platform_anchor(tariffs: Iterable[OwnerReference]) -> Manifest:
    """A namespace's Platform, owned by its Tariffs: the garbage collector removes it (and all it
    owns) when the last Tariff goes, even with no operator running (`helm uninstall`); the
    operator removes it when the namespace's last ChargingStation and Tariff are gone. Its size
    does not grow with the station count."""
    return {
        "apiVersion": API_VERSION,
        "kind": PLATFORM_KIND,
        "metadata": {"name": PLATFORM_NAME, "labels": _labels(PLATFORM_NAME, "platform"),
                     "ownerReferences": owner_references(tariffs)},
        "spec": {},
    }


def _ingress_from_platform(settings: OperatorSettings) -> list[Manifest]:
    """Who may reach the internal ports: the namespace's platform pods (services, simulators), the
    operator's pods and, when named, the pods of the metrics namespace (Prometheus)."""
    peers: list[Manifest] = [{"podSelector": {"matchLabels": {LABEL_PART_OF: PART_OF}}}]
    if settings.operator_namespace:
        peers.append({"namespaceSelector": _namespace_named(settings.operator_namespace),
                      "podSelector": {"matchLabels": dict(settings.operator_pod_labels)}})
    if settings.metrics_namespace:
        peers.append({"namespaceSelector": _namespace_named(settings.metrics_namespace)})
    return [{"from": peers}]


def _namespace_named(name: str) -> Manifest:
    return {"matchLabels": {"kubernetes.io/metadata.name": name}}


def _network_policy(name: str, selector: Manifest, ingress: list[Manifest], owner: OwnerReference) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "labels": _labels(name, "network-policy"),
                     "ownerReferences": owner_references([owner])},
        "spec": {"podSelector": selector, "policyTypes": ["Ingress"], "ingress": ingress},
    }


def build_network_policies(settings: OperatorSettings, *, owner: OwnerReference) -> list[Manifest]:
    """Every platform pod takes connections only from the platform and the operator; the
    gateway's station ports and the public API take them from anywhere. Policies add up, so a
    port open in one is open."""
    every_service = {"matchExpressions": [{"key": LABEL_SERVICE, "operator": "Exists"}]}
    station_ports = [{"port": GATEWAY_STATION_PORT, "protocol": "TCP"}]
    if settings.gateway_tls_secret:
        station_ports.append({"port": settings.gateway_tls_port, "protocol": "TCP"})
    return [
        _network_policy(platform_name("internal"), every_service, _ingress_from_platform(settings), owner),
        _network_policy(platform_name("stations"), {"matchLabels": {LABEL_SERVICE: "ocpp"}},
                        [{"ports": station_ports}], owner),
        _network_policy(platform_name("public-api"), {"matchLabels": {LABEL_SERVICE: "api-gateway"}},
                        [{"ports": [{"port": PLATFORM_SERVICES["api-gateway"], "protocol": "TCP"}]}], owner),
    ]


def build_gateway_disruption_budget(*, owner: OwnerReference) -> Manifest:
    """A drain takes one gateway replica at a time: its stations reconnect to the others."""
    name = platform_name("ocpp")
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "labels": {**_labels(name, "ocpp"), LABEL_SERVICE: "ocpp"},
                     "ownerReferences": owner_references([owner])},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _selector("ocpp")}},
    }


def build_platform(*, settings: OperatorSettings, stations: int, owner: OwnerReference,
                   database_url: str) -> list[Manifest]:
    """Everything a namespace's platform is, owned by its Platform: the database Secret, a
    Deployment and a Service per service, the gateway's disruption budget and the
    NetworkPolicies. The JWT Secret is apart: its random key is no pure function (build_jwt_secret)."""
    manifests = [build_database_secret(database_url, owner=owner), build_redis_secret(settings, owner=owner)]
    for service in PLATFORM_SERVICES:
        replicas = gateway_replicas(stations, settings) if service == "ocpp" else 1
        manifests.append(build_platform_deployment(service, settings=settings, replicas=replicas, owner=owner))
        tls_port = settings.gateway_tls_port if service == "ocpp" and settings.gateway_tls_secret else None
        manifests.append(build_platform_service(service, owner=owner, tls_port=tls_port))
    manifests.append(build_gateway_disruption_budget(owner=owner))
    if settings.network_policies:
        manifests += build_network_policies(settings, owner=owner)
    return manifests


def credentials_secret_name(station: str) -> str:
    return f"{station}-ocpp-credentials"


def credentials_reference(station: str, spec: Mapping[str, Any]) -> tuple[str, str]:
    """(Secret name, key) holding the station's HTTP Basic password."""
    reference = spec.get("credentials", {}).get("secretRef")
    if reference:
        return reference["name"], reference.get("key", PASSWORD_KEY)
    return credentials_secret_name(station), PASSWORD_KEY


def build_credentials_secret(station: str, password: str, *, owner: OwnerReference) -> Manifest:
    name = credentials_secret_name(station)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": {**_labels(name, "credentials"), LABEL_STATION: station},
                     "ownerReferences": owner_references([owner])},
        "type": "Opaque",
        "stringData": {PASSWORD_KEY: password},
    }


def simulator_name(station: str) -> str:
    return f"{station}-simulator"


def build_simulator_deployment(station: str, spec: Mapping[str, Any], *, settings: OperatorSettings,
                               owner: OwnerReference) -> Manifest:
    """One emulated station with the ChargingStation's id and connectors, charging until the
    simulator is disabled, against the namespace's gateway Service."""
    name = simulator_name(station)
    simulator = {**DEFAULT_SIMULATOR, **spec.get("simulator", {})}
    secret, key = credentials_reference(station, spec)
    labels = {**_labels(name, "simulator"), LABEL_STATION: station}
    # security profile 2 connects over TLS, trusting the CA of the gateway's TLS Secret
    over_tls = spec.get("securityProfile", 1) >= 2 and bool(settings.gateway_tls_secret)
    url = (f"wss://{platform_name('ocpp')}:{settings.gateway_tls_port}/ocpp" if over_tls
           else f"ws://{platform_name('ocpp')}:{GATEWAY_STATION_PORT}/ocpp")
    args = [
        "--url", url,
        "--station-id", spec["stationId"],
        "--connectors", str(max(1, len(spec.get("connectors", [])))),
        "--sessions", str(simulator["sessions"]),
        "--forever",
        "--session-seconds", str(simulator["sessionSeconds"]),
        "--max-pause", str(simulator["pauseSeconds"]),
        "--power-kw", str(simulator["powerKw"]),
        "--meter-interval", str(simulator["meterIntervalSeconds"]),
        # the kubelet expands $(VAR), so the password stays in its Secret
        "--password", "$(OCPP_PASSWORD)",
        "--quiet",
    ]  # fmt: skip
    container: Manifest = {
        "name": "emulator",
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["chargeplane-emulator"],
        "args": args,
        "env": [{"name": "OCPP_PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}],
        "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}},
    }
    volumes = []
    if over_tls:
        args += ["--ca-file", f"{GATEWAY_TLS_DIR}/ca.crt"]
        volumes = [{"name": "gateway-ca", "secret": {"secretName": settings.gateway_tls_secret,
                                                     "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]
        container["volumeMounts"] = [{"name": "gateway-ca", "mountPath": GATEWAY_TLS_DIR, "readOnly": True}]
    pod = _pod_spec(settings, [container], volumes=volumes)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels, "ownerReferences": owner_references([owner])},
        "spec": {
            "replicas": 1,
            # two emulators with one station id would take each other's socket over
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": {LABEL_PART_OF: PART_OF, LABEL_STATION: station}},
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }


def build_registration(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The gateway's registration body (PUT /internal/stations/{id})."""
    return {
        "heartbeat_interval": spec.get("heartbeatIntervalSeconds", DEFAULT_HEARTBEAT_INTERVAL),
        "registration_status": spec.get("registrationStatus", "Accepted"),
        # the gateway enforces these whenever the station is online
        "desired_configuration": dict(spec.get("configuration", {})),
        "security_profile": spec.get("securityProfile", 1),
    }


def build_charging_limit(spec: Mapping[str, Any]) -> dict[str, Any] | None:
    """The SetChargingProfile that enforces `spec.chargingLimit` (None without one): a
    ChargePointMaxProfile with no end, under an id of the platform's own (see CHARGING_LIMIT_PROFILE_ID)."""
    limit = spec.get("chargingLimit")
    if not limit:
        return None
    return {"connectorId": 0, "csChargingProfiles": {
        "chargingProfileId": CHARGING_LIMIT_PROFILE_ID, "stackLevel": CHARGING_LIMIT_STACK_LEVEL,
        "chargingProfilePurpose": "ChargePointMaxProfile", "chargingProfileKind": "Absolute",
        "chargingSchedule": {"startSchedule": CHARGING_LIMIT_SINCE, "chargingRateUnit": "W",
                             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit["maxPowerW"]}]},
    }}


def billing_tariff_id(namespace: str, name: str) -> str:
    """Tariff ids are unique across namespaces that share one billing database."""
    return f"{namespace}.{name}"


def _decimal(value: float | int | str) -> str:
    # repr of a float is its shortest round-trip form, so 0.3 goes to billing as "0.3", never 0.2999...
    return str(value)


# CR field -> billing field, for the scalar fields that only change their name
_RESTRICTION_FIELDS = {
    "startTime": "start_time", "endTime": "end_time", "startDate": "start_date", "endDate": "end_date",
    "minDuration": "min_duration", "maxDuration": "max_duration", "dayOfWeek": "day_of_week",
}
_DECIMAL_RESTRICTION_FIELDS = {"minKwh": "min_kwh", "maxKwh": "max_kwh"}


def _restrictions(restrictions: Mapping[str, Any]) -> dict[str, Any]:
    body = {snake: restrictions[camel] for camel, snake in _RESTRICTION_FIELDS.items() if camel in restrictions}
    body |= {snake: _decimal(restrictions[camel]) for camel, snake in _DECIMAL_RESTRICTION_FIELDS.items()
             if camel in restrictions}
    return body


def _element(element: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"price_components": [
        {"type": c["type"], "price": _decimal(c["price"]), "step_size": c.get("stepSize", 1)}
        for c in element["priceComponents"]
    ]}
    if "restrictions" in element:
        body["restrictions"] = _restrictions(element["restrictions"])
    return body


def build_tariff_body(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Billing's tariff (services/billing/pricing.py `Tariff` minus its id) from a Tariff's camelCase spec."""
    body: dict[str, Any] = {
        "currency": spec["currency"],
        "tax_rate": _decimal(spec["taxRate"]),
        "time_zone": spec.get("timeZone", "UTC"),
        "elements": [_element(element) for element in spec["elements"]],
    }
    for camel, snake in (("validFrom", "valid_from"), ("validTo", "valid_to")):
        if camel in spec:
            body[snake] = spec[camel]
    return body
