"""Pure builders: custom resources and operator settings in, Kubernetes manifests and
platform request bodies out. No I/O here; the handlers send what these return."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from .constants import (
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
    PLATFORM_SERVICES,
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
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


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
        "REDIS_URL": settings.redis_url,
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
    secrets = [_database_url_env()]
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


def _add_gateway_ports_and_secrets(pod: Manifest, settings: OperatorSettings) -> None:
    """Open the station port; mount the gateway's TLS Secret and the platform CA's, and open
    the TLS port. A missing Secret keeps the pod from starting, which says plainly what is wrong."""
    container = pod["containers"][0]
    container["ports"].append({"name": "ocpp", "containerPort": GATEWAY_STATION_PORT, "protocol": "TCP"})
    for name, secret, path in (("gateway-tls", settings.gateway_tls_secret, GATEWAY_TLS_DIR),
                               ("platform-ca", settings.platform_ca_secret, PLATFORM_CA_DIR)):
        if secret:
            pod.setdefault("volumes", []).append({"name": name, "secret": {"secretName": secret}})
            container.setdefault("volumeMounts", []).append({"name": name, "mountPath": path, "readOnly": True})
    if settings.gateway_tls_secret:
        container["ports"].append({"name": "ocpps", "containerPort": settings.gateway_tls_port, "protocol": "TCP"})


def build_platform_deployment(service: str, *, settings: OperatorSettings, replicas: int,
                              owners: Iterable[OwnerReference]) -> Manifest:
    name = platform_name(service)
    labels = {**_labels(name, service), LABEL_SERVICE: service}
    probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10, "failureThreshold": 3}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels, "ownerReferences": owner_references(owners)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": _selector(service)},
            "template": {
                "metadata": {"labels": labels, "annotations": scrape_annotations(service)},
                "spec": {
                    # migrations are idempotent and advisory-locked, so every pod may run them
                    "initContainers": [{
                        "name": "migrate",
                        "image": settings.image,
                        "imagePullPolicy": settings.image_pull_policy,
                        "command": ["chargeplane", "migrate"],
                        "env": [_database_url_env()],
                        "securityContext": _container_security(),
                    }],
                    "containers": [{
                        "name": service,
                        "image": settings.image,
                        "imagePullPolicy": settings.image_pull_policy,
                        # -P: the working directory stays off sys.path, whatever the image's WORKDIR holds
                        "command": ["python", "-P", "-m", f"chargeplane.services.{service.replace('-', '_')}"],
                        "env": build_service_env(service, settings),
                        "ports": [{"name": "http", "containerPort": PLATFORM_SERVICES[service], "protocol": "TCP"}],
                        "livenessProbe": probe,
                        "readinessProbe": {**probe, "httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5},
                        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}},
                        "securityContext": _container_security(),
                    }],
                    # above the services' 20 s graceful shutdown (ServiceSettings.shutdown_timeout)
                    "terminationGracePeriodSeconds": 30,
                },
            },
        },
    }
    if service == "ocpp":
        _add_gateway_ports_and_secrets(deployment["spec"]["template"]["spec"], settings)
    return deployment


def build_platform_service(service: str, *, owners: Iterable[OwnerReference], tls_port: int | None = None) -> Manifest:
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
                     "annotations": scrape_annotations(service), "ownerReferences": owner_references(owners)},
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(service),
            "ports": ports,
        },
    }


def _platform_secret(name: str, component: str, data: dict[str, str], owners: Iterable[OwnerReference]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": _labels(name, component), "ownerReferences": owner_references(owners)},
        "type": "Opaque",
        "stringData": data,
    }


def build_database_secret(settings: OperatorSettings, *, owners: Iterable[OwnerReference]) -> Manifest:
    """The database URL of a namespace's platform: the operator's own, so it follows its settings."""
    return _platform_secret(DATABASE_SECRET, "database", {DATABASE_URL_KEY: settings.database_url}, owners)


def build_jwt_secret(key: str, *, owners: Iterable[OwnerReference]) -> Manifest:
    """The key auth signs API tokens with and api-gateway verifies them with. Created once with
    a random `key`; a later run adopts the existing Secret and never rotates it (every token
    issued would turn invalid)."""
    return _platform_secret(JWT_SECRET, "jwt", {JWT_SECRET_KEY: key}, owners)


def build_platform(*, settings: OperatorSettings, stations: int, owners: Iterable[OwnerReference]) -> list[Manifest]:
    """The database Secret and every Deployment and Service of one namespace's platform, owned
    by all its ChargingStations and Tariffs (so it goes when the last of them goes). The JWT
    Secret is apart: its random key is no pure function (build_jwt_secret)."""
    owners = list(owners)
    manifests = [build_database_secret(settings, owners=owners)]
    for service in PLATFORM_SERVICES:
        replicas = gateway_replicas(stations, settings) if service == "ocpp" else 1
        manifests.append(build_platform_deployment(service, settings=settings, replicas=replicas, owners=owners))
        tls_port = settings.gateway_tls_port if service == "ocpp" and settings.gateway_tls_secret else None
        manifests.append(build_platform_service(service, owners=owners, tls_port=tls_port))
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
        "securityContext": _container_security(),
    }
    pod: Manifest = {"containers": [container]}
    if over_tls:
        args += ["--ca-file", f"{GATEWAY_TLS_DIR}/ca.crt"]
        pod["volumes"] = [{"name": "gateway-ca", "secret": {"secretName": settings.gateway_tls_secret,
                                                            "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]
        container["volumeMounts"] = [{"name": "gateway-ca", "mountPath": GATEWAY_TLS_DIR, "readOnly": True}]
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
