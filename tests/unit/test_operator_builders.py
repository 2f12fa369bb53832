"""The operator's pure builders: custom resources and settings in, manifests and request
bodies out. Every manifest is checked against the Kubernetes API's own schemas."""

from __future__ import annotations

import base64
from datetime import datetime
from decimal import Decimal
from typing import Any

import kopf
import kubernetes_validate
import pytest

from chargeplane.operator.builders import (
    billing_tariff_id,
    build_credentials_secret,
    build_jwt_secret,
    build_platform,
    build_platform_anchor,
    build_registration,
    build_service_env,
    build_simulator_deployment,
    build_tariff_body,
    gateway_replicas,
)
from chargeplane.operator.constants import DATABASE_SECRET, JWT_SECRET, LABEL_SERVICE, PLATFORM_SERVICES
from chargeplane.operator.databases import namespace_database, password_in, role_url
from chargeplane.operator.settings import OperatorSettings
from chargeplane.services.billing.pricing import SessionUsage, Tariff, price_session

from .test_crds import KUBERNETES_VERSION, example

# a namespace's own database and role (operator/databases.py)
DATABASE_URL = "postgresql://chargeplane_fleet:pw@db/chargeplane_fleet"

SETTINGS = OperatorSettings(image="registry.example/chargeplane:1.2.3", database_url="postgresql://db/cp",
                            redis_url="redis://cache:6379/0", otlp_endpoint="http://collector:4318")


def owner(kind: str, name: str, uid: str, *, controller: bool = False) -> dict[str, Any]:
    body = kopf.Body({"apiVersion": "chargeplane.io/v1alpha1", "kind": kind, "metadata": {"name": name, "uid": uid}})
    return dict(kopf.build_owner_reference(body, controller=controller, block_owner_deletion=False))


TARIFF_OWNER = owner("Tariff", "city-tou", "uid-b")
STATION_OWNER = owner("ChargingStation", "depot-01", "uid-a")
PLATFORM_OWNER = owner("Platform", "chargeplane", "uid-p", controller=True)


def decoded(secret: dict[str, Any]) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {variable["name"]: variable.get("value", variable.get("valueFrom")) for variable in container["env"]}


@pytest.mark.parametrize(("stations", "per_replica", "maximum", "replicas"), [
    (0, 5000, 10, 1), (1, 5000, 10, 1), (5000, 5000, 10, 1), (5001, 5000, 10, 2),
    (12_000, 5000, 10, 3), (10**6, 5000, 10, 10), (3, 1, 2, 2),
])
def test_gateway_replicas_are_ceil_of_stations_per_replica_clamped(stations: int, per_replica: int, maximum: int,
                                                                   replicas: int) -> None:
    settings = OperatorSettings(stations_per_gateway_replica=per_replica, gateway_max_replicas=maximum)
    assert gateway_replicas(stations, settings) == replicas


def test_the_platform_anchor_is_owned_by_the_tariffs_alone_whatever_the_station_count() -> None:
    anchor = build_platform_anchor([TARIFF_OWNER, owner("Tariff", "a-second", "uid-0")])
    assert (anchor["kind"], anchor["metadata"]["name"], anchor["spec"]) == ("Platform", "chargeplane", {})
    # sorted by uid, neither controls it: it goes with the last Tariff (and, by the operator, with the last station)
    assert [o["uid"] for o in anchor["metadata"]["ownerReferences"]] == ["uid-0", "uid-b"]


def test_the_platform_is_owned_by_its_platform_object_alone_whatever_the_station_count() -> None:
    manifests = build_platform(settings=SETTINGS, stations=7001, owner=PLATFORM_OWNER, database_url=DATABASE_URL)
    for manifest in manifests:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        assert manifest["metadata"]["ownerReferences"] == [PLATFORM_OWNER]
    by_kind_and_name = {(m["kind"], m["metadata"]["name"]): m for m in manifests}
    assert set(by_kind_and_name) == {(kind, f"chargeplane-{service}") for service in PLATFORM_SERVICES
                                     for kind in ("Deployment", "Service")} | {
        ("Secret", DATABASE_SECRET), ("Secret", "chargeplane-platform-redis"),
        ("PodDisruptionBudget", "chargeplane-ocpp"),
        ("NetworkPolicy", "chargeplane-internal"), ("NetworkPolicy", "chargeplane-stations"),
        ("NetworkPolicy", "chargeplane-public-api")}
    assert manifests[0]["kind"] == "Secret"  # before the pods that read it
    # the namespace's own database, never the owner's URL of the operator's settings
    assert decoded(by_kind_and_name["Secret", DATABASE_SECRET]) == {"url": DATABASE_URL}
    database_url = {"secretKeyRef": {"name": DATABASE_SECRET, "key": "url"}}
    jwt_key = {"secretKeyRef": {"name": JWT_SECRET, "key": "jwt-secret"}}
    for service, port in PLATFORM_SERVICES.items():
        deployment = by_kind_and_name["Deployment", f"chargeplane-{service}"]
        pod = deployment["spec"]["template"]
        assert deployment["spec"]["replicas"] == (2 if service == "ocpp" else 1)
        assert pod["metadata"]["labels"][LABEL_SERVICE] == service
        assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
        (container,) = pod["spec"]["containers"]
        module = service.replace("-", "_")  # api-gateway is chargeplane.services.api_gateway
        assert container["command"] == ["python", "-P", "-m", f"chargeplane.services.{module}"]
        assert container["image"] == SETTINGS.image and container["ports"][0]["containerPort"] == port
        # the secrets come from Secrets; only the services that sign or verify tokens get the JWT key
        # the gateway's PORT is the stations'; its API (port `http`) is its INTERNAL_PORT
        gateway = {"PORT": "8081", "INTERNAL_PORT": "8086"} if service == "ocpp" else {}
        assert env_of(container) == {
            "SERVICE_NAME": service, "HOST": "0.0.0.0", "PORT": str(port), "DATABASE_URL": database_url,
            **({"JWT_SECRET": jwt_key} if service in ("auth", "api-gateway") else {}),
            "REDIS_URL": {"secretKeyRef": {"name": "chargeplane-platform-redis", "key": "url"}},
            "SESSIONS_URL": "http://chargeplane-sessions:8082",
            "BILLING_URL": "http://chargeplane-billing:8083", "TELEMETRY_URL": "http://chargeplane-telemetry:8084",
            "AUTH_URL": "http://chargeplane-auth:8085", "OCPP_HTTP_URL": "http://chargeplane-ocpp:8086",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SERVICE_NAME": service, "LOG_LEVEL": "INFO",
            **gateway,
        }
        assert (container["livenessProbe"]["httpGet"]["path"], container["readinessProbe"]["httpGet"]["path"]) == (
            "/healthz", "/readyz")
        (migrate,) = pod["spec"]["initContainers"]
        assert migrate["command"] == ["chargeplane", "migrate"]
        assert env_of(migrate) == {"DATABASE_URL": database_url}
        service_manifest = by_kind_and_name["Service", f"chargeplane-{service}"]
        assert service_manifest["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
        assert service_manifest["spec"]["ports"][0]["port"] == port


def test_the_jwt_key_is_a_secret_of_its_own_owned_by_the_platform() -> None:
    secret = build_jwt_secret("k" * 64, owner=PLATFORM_OWNER)
    kubernetes_validate.validate(secret, KUBERNETES_VERSION, strict=True)
    assert (secret["metadata"]["name"], decoded(secret)) == (JWT_SECRET, {"jwt-secret": "k" * 64})
    assert secret["metadata"]["ownerReferences"] == [PLATFORM_OWNER]


def test_every_pod_the_operator_makes_meets_the_restricted_pod_security_standard() -> None:
    settings = SETTINGS.model_copy(update={
        "pod_node_selector": {"kubernetes.io/os": "linux"}, "image_pull_secrets": ["registry"],
        "pod_tolerations": [{"key": "dedicated", "operator": "Equal", "value": "charging", "effect": "NoSchedule"}],
        "pod_resources": {"requests": {"cpu": "100m"}, "limits": {"memory": "512Mi"}}})
    station_owner = owner("ChargingStation", "depot-01", "uid-a", controller=True)
    deployments = [m for m in build_platform(settings=settings, stations=1, owner=PLATFORM_OWNER,
                                             database_url=DATABASE_URL)
                   if m["kind"] == "Deployment"]
    deployments.append(build_simulator_deployment("depot-01", example("ChargingStation")["spec"], settings=settings,
                                                  owner=station_owner))
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                                          "fsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}}
        for container in (*pod["containers"], *pod.get("initContainers", [])):
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True,
                "runAsNonRoot": True}
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        assert {"name": "tmp", "emptyDir": {}} in pod["volumes"]
        assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
        assert pod["tolerations"][0]["key"] == "dedicated"
        assert pod["imagePullSecrets"] == [{"name": "registry"}]
    assert deployments[0]["spec"]["template"]["spec"]["containers"][0]["resources"] == settings.pod_resources


def test_network_policies_open_the_station_and_api_ports_to_all_and_the_rest_to_the_platform_and_operator() -> None:
    settings = SETTINGS.model_copy(update={"operator_namespace": "chargeplane-system",
                                           "metrics_namespace": "monitoring", "gateway_tls_secret": "tls"})
    policies = {m["metadata"]["name"]: m["spec"] for m in build_platform(settings=settings, stations=1,
                                                                        owner=PLATFORM_OWNER,
                                                                        database_url=DATABASE_URL)
                if m["kind"] == "NetworkPolicy"}
    internal = policies["chargeplane-internal"]
    assert internal["podSelector"] == {"matchExpressions": [{"key": LABEL_SERVICE, "operator": "Exists"}]}
    (rule,) = internal["ingress"]
    assert "ports" not in rule and rule["from"] == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "chargeplane"}}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "chargeplane-system"}},
         "podSelector": {"matchLabels": {"app.kubernetes.io/component": "operator"}}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    assert policies["chargeplane-stations"] == {
        "podSelector": {"matchLabels": {LABEL_SERVICE: "ocpp"}}, "policyTypes": ["Ingress"],
        "ingress": [{"ports": [{"port": 8081, "protocol": "TCP"}, {"port": 8443, "protocol": "TCP"}]}]}
    assert policies["chargeplane-public-api"]["ingress"] == [{"ports": [{"port": 8080, "protocol": "TCP"}]}]
    off = SETTINGS.model_copy(update={"network_policies": False})
    manifests = build_platform(settings=off, stations=1, owner=PLATFORM_OWNER, database_url=DATABASE_URL)
    assert not [m for m in manifests if m["kind"] == "NetworkPolicy"]
def test_every_platform_pod_and_service_is_annotated_for_prometheus_at_its_metrics_port() -> None:
    manifests = build_platform(settings=SETTINGS, stations=1, owner=PLATFORM_OWNER, database_url=DATABASE_URL)
    for service, port in PLATFORM_SERVICES.items():
        wanted = {"prometheus.io/scrape": "true", "prometheus.io/port": str(port), "prometheus.io/path": "/metrics"}
        by_kind = {m["kind"]: m for m in manifests if m["metadata"]["name"] == f"chargeplane-{service}"}
        pod = by_kind["Deployment"]["spec"]["template"]
        # the port that serves the HTTP API serves /metrics too (common/web.py)
        assert pod["spec"]["containers"][0]["ports"][0]["containerPort"] == port
        assert pod["metadata"]["annotations"] == wanted
        assert by_kind["Service"]["metadata"]["annotations"] == wanted


def test_the_platform_follows_the_settings() -> None:
    changed = OperatorSettings(image="chargeplane:next", otlp_endpoint="", log_level="DEBUG",
                               )
    secret, _, deployment = build_platform(settings=changed, stations=1, owner=PLATFORM_OWNER,
                                           database_url=DATABASE_URL)[:3]
    assert decoded(secret) == {"url": DATABASE_URL}
    pod = deployment["spec"]["template"]["spec"]
    assert {c["image"] for c in (*pod["containers"], *pod["initContainers"])} == {"chargeplane:next"}
    env = env_of(pod["containers"][0])
    assert (env["OTEL_EXPORTER_OTLP_ENDPOINT"], env["LOG_LEVEL"]) == ("", "DEBUG")


def test_a_generated_password_secret_is_controlled_by_its_station() -> None:
    station_owner = owner("ChargingStation", "depot-01", "uid-a", controller=True)
    secret = build_credentials_secret("depot-01", "s3cret", owner=station_owner)
    kubernetes_validate.validate(secret, KUBERNETES_VERSION, strict=True)
    assert secret["metadata"]["name"] == "depot-01-ocpp-credentials"
    assert secret["stringData"] == {"password": "s3cret"}  # created once, never applied
    assert secret["metadata"]["ownerReferences"] == [station_owner]


def test_the_simulator_is_one_named_station_against_the_gateway_with_its_password_from_the_secret() -> None:
    station_owner = owner("ChargingStation", "depot-01", "uid-a", controller=True)
    spec = example("ChargingStation")["spec"]
    deployment = build_simulator_deployment("depot-01", spec, settings=SETTINGS, owner=station_owner)
    kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["chargeplane-emulator"]
    assert container["args"] == [
        "--url", "ws://chargeplane-ocpp:8081/ocpp", "--station-id", "DEPOT-01", "--connectors", "2",
        "--sessions", "0", "--forever", "--session-seconds", "120", "--max-pause", "30", "--power-kw", "11",
        "--meter-interval", "10", "--password", "$(OCPP_PASSWORD)", "--quiet",
    ]
    assert env_of(container)["OCPP_PASSWORD"] == {
        "secretKeyRef": {"name": "depot-01-ocpp-credentials", "key": "password"}}


def test_the_simulator_takes_a_given_secret_and_the_schema_defaults() -> None:
    spec = {"stationId": "CP-9", "tariffRef": {"name": "t"}, "simulator": {"enabled": True},
            "credentials": {"secretRef": {"name": "vault-synced", "key": "basic"}}}
    deployment = build_simulator_deployment("cp-9", spec, settings=SETTINGS, owner=STATION_OWNER)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert env_of(container)["OCPP_PASSWORD"] == {"secretKeyRef": {"name": "vault-synced", "key": "basic"}}
    args = container["args"]
    assert [args[args.index(flag) + 1] for flag in ("--connectors", "--session-seconds", "--power-kw")] == [
        "1", "60", "11"]


def test_registration_carries_the_heartbeat_interval_registration_status_configuration_and_security_profile() -> None:
    assert build_registration({"stationId": "A"}) == {"heartbeat_interval": 300, "registration_status": "Accepted",
                                                      "desired_configuration": {}, "security_profile": 1}
    assert build_registration({"heartbeatIntervalSeconds": 60, "registrationStatus": "Pending",
                               "configuration": {"MeterValueSampleInterval": "30"}, "securityProfile": 3}) == {
        "heartbeat_interval": 60, "registration_status": "Pending",
        "desired_configuration": {"MeterValueSampleInterval": "30"}, "security_profile": 3}


TLS_SETTINGS = OperatorSettings(gateway_tls_secret="chargeplane-gateway-tls", platform_ca_secret="chargeplane-ca")


def test_the_gateway_mounts_its_tls_and_ca_secrets_and_serves_the_tls_port() -> None:
    manifests = {(m["kind"], m["metadata"]["name"]): m
                 for m in build_platform(settings=TLS_SETTINGS, stations=1, owner=PLATFORM_OWNER,
                                         database_url=DATABASE_URL)}
    for manifest in manifests.values():
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    pod = manifests["Deployment", "chargeplane-ocpp"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v} == {
        "gateway-tls": "chargeplane-gateway-tls", "platform-ca": "chargeplane-ca"}
    assert {m["name"]: m["mountPath"] for m in container["volumeMounts"]} == {
        "gateway-tls": "/etc/chargeplane/tls", "platform-ca": "/etc/chargeplane/ca", "tmp": "/tmp"}
    env = env_of(container)
    assert {key: env[key] for key in ("TLS_PORT", "TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CLIENT_CA_FILE",
                                      "CA_CERT_FILE", "CA_KEY_FILE")} == {
        "TLS_PORT": "8443", "TLS_CERT_FILE": "/etc/chargeplane/tls/tls.crt",
        "TLS_KEY_FILE": "/etc/chargeplane/tls/tls.key", "TLS_CLIENT_CA_FILE": "/etc/chargeplane/tls/ca.crt",
        "CA_CERT_FILE": "/etc/chargeplane/ca/tls.crt", "CA_KEY_FILE": "/etc/chargeplane/ca/tls.key"}
    assert [(p["name"], p["containerPort"]) for p in container["ports"]] == [("http", 8086), ("ocpp", 8081),
                                                                             ("ocpps", 8443)]
    service = manifests["Service", "chargeplane-ocpp"]
    assert [(p["name"], p["port"]) for p in service["spec"]["ports"]] == [("http", 8086), ("ocpp", 8081),
                                                                         ("ocpps", 8443)]
    # the other services know nothing of it
    sessions = manifests["Deployment", "chargeplane-sessions"]["spec"]["template"]["spec"]
    assert sessions["volumes"] == [{"name": "tmp", "emptyDir": {}}]
    assert "TLS_PORT" not in env_of(sessions["containers"][0])
    # without the settings the gateway has no TLS listener, and no volume of it stays behind
    plain = build_platform(settings=SETTINGS, stations=1, owner=PLATFORM_OWNER, database_url=DATABASE_URL)
    ocpp = next(m for m in plain if m["kind"] == "Deployment" and m["metadata"]["name"] == "chargeplane-ocpp")
    assert ocpp["spec"]["template"]["spec"]["volumes"] == [{"name": "tmp", "emptyDir": {}}]
    assert "TLS_PORT" not in env_of(ocpp["spec"]["template"]["spec"]["containers"][0])


def test_the_gateway_alone_gets_the_upload_address_and_only_when_one_is_set() -> None:
    """Stations outside the cluster upload diagnostics and logs there (services/ocpp/settings.py)."""
    settings = SETTINGS.model_copy(update={"gateway_upload_base_url": "http://csms.example.com:8081"})
    assert env_of({"env": build_service_env("ocpp", settings)})["UPLOAD_BASE_URL"] == "http://csms.example.com:8081"
    assert "UPLOAD_BASE_URL" not in env_of({"env": build_service_env("sessions", settings)})
    # unset, the gateway names the address a command came in on
    assert "UPLOAD_BASE_URL" not in env_of({"env": build_service_env("ocpp", SETTINGS)})


def test_a_profile_2_simulator_connects_over_tls_trusting_the_gateway_ca() -> None:
    spec = {"stationId": "CP-2", "tariffRef": {"name": "t"}, "securityProfile": 2, "simulator": {"enabled": True}}
    deployment = build_simulator_deployment("cp-2", spec, settings=TLS_SETTINGS, owner=STATION_OWNER)
    kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    pod = deployment["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert args[args.index("--url") + 1] == "wss://chargeplane-ocpp:8443/ocpp"
    assert args[args.index("--ca-file") + 1] == "/etc/chargeplane/tls/ca.crt"
    assert pod["volumes"][0]["secret"] == {"secretName": "chargeplane-gateway-tls",
                                           "items": [{"key": "ca.crt", "path": "ca.crt"}]}
    plain = build_simulator_deployment("cp-2", {**spec, "securityProfile": 1}, settings=TLS_SETTINGS,
                                       owner=STATION_OWNER)
    plain_args = plain["spec"]["template"]["spec"]["containers"][0]["args"]
    assert plain_args[plain_args.index("--url") + 1] == "ws://chargeplane-ocpp:8081/ocpp"


def test_a_tariff_spec_becomes_billings_tariff_and_prices_by_time_of_use() -> None:
    body = build_tariff_body(example("Tariff")["spec"])
    assert body["elements"][0] == {
        "price_components": [{"type": "ENERGY", "price": "0.45", "step_size": 1},
                             {"type": "FLAT", "price": "0.5", "step_size": 1}],
        "restrictions": {"start_time": "08:00", "end_time": "20:00",
                         "day_of_week": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]},
    }
    tariff = Tariff.model_validate({**body, "id": billing_tariff_id("fleet", "city-tou")})
    assert (tariff.id, tariff.currency, tariff.tax_rate, tariff.time_zone) == (
        "fleet.city-tou", "EUR", Decimal("0.19"), "Europe/Berlin")

    def bill(start: str, end: str, kwh: int) -> Decimal:
        usage = SessionUsage(datetime.fromisoformat(start), datetime.fromisoformat(end), 0, kwh * 1000)
        return price_session(tariff, usage).amount_excl_tax

    # a Monday morning in Berlin is peak (0.45), a Sunday is not (0.29); 0.50 per session either way
    assert bill("2026-03-02T09:00:00+01:00", "2026-03-02T10:00:00+01:00", 10) == Decimal("5.00")
    assert bill("2026-03-01T09:00:00+01:00", "2026-03-01T10:00:00+01:00", 10) == Decimal("3.40")


def test_every_optional_tariff_field_reaches_billing() -> None:
    spec = {
        "currency": "JPY", "taxRate": 0.1, "validFrom": "2026-01-01T00:00:00Z", "validTo": "2027-01-01T00:00:00Z",
        "elements": [{"priceComponents": [{"type": "TIME", "price": 120, "stepSize": 300}],
                      "restrictions": {"startDate": "2026-01-01", "endDate": "2026-06-01", "minKwh": 0.5,
                                       "maxKwh": 40, "minDuration": 60, "maxDuration": 7200}}],
    }
    body = build_tariff_body(spec)
    assert body == {
        "currency": "JPY", "tax_rate": "0.1", "time_zone": "UTC",
        "valid_from": "2026-01-01T00:00:00Z", "valid_to": "2027-01-01T00:00:00Z",
        "elements": [{"price_components": [{"type": "TIME", "price": "120", "step_size": 300}],
                      "restrictions": {"start_date": "2026-01-01", "end_date": "2026-06-01", "min_duration": 60,
                                       "max_duration": 7200, "min_kwh": "0.5", "max_kwh": "40"}}],
    }
    Tariff.model_validate({**body, "id": "x"})


def test_each_namespace_has_a_database_and_role_of_its_own_within_postgresqls_name_limit() -> None:
    assert namespace_database("fleet-north") == "chargeplane_fleet_north"
    long_a, long_b = "a" * 60 + "-x", "a" * 60 + "-y"
    assert len(namespace_database(long_a)) == 63 and namespace_database(long_a) != namespace_database(long_b)
    url = role_url("postgresql://owner:secret@db.example:5432/chargeplane?sslmode=require", "chargeplane_fleet",
                   "p@ss/word")
    assert url == "postgresql://chargeplane_fleet:p%40ss%2Fword@db.example:5432/chargeplane_fleet?sslmode=require"
    assert password_in(url, "chargeplane_fleet") == "p@ss/word"  # kept as it was made
    assert password_in("postgresql://owner:secret@db/chargeplane", "chargeplane_fleet") is None
