"""The operator on the real API server, as the chart runs it: installed with `helm install`, it
runs on this machine (no kubelet here) with the chart's environment and **the token of the
chart's ServiceAccount**, so the API server enforces the chart's ClusterRole on every call. The
platform it drives is `chargeplane up`, reached through CHARGEPLANE_SERVICE_URL_TEMPLATE (its
Deployments are created in the cluster, and their pods stay Pending). Each test works in a
namespace of its own, with station ids of its own (the one `chargeplane up` serves them all).

The last test uninstalls the chart while the operator runs; the one before it reads the API
server's audit log: the operator used exactly the verbs its ClusterRole grants."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from prometheus_client.parser import text_string_to_metric_families

from chargeplane.operator.constants import GROUP, PLATFORM_SERVICES, TARIFFS, VERSION
from chargeplane.operator.rbac import RULES
from support.controlplane import ControlPlane
from support.platform import RunningPlatform, free_loopback_host, running_platform

from .conftest import CHART, REPO, Run, delete_crds, eventually
from .operating import (
    OPERATOR_ACCOUNT,
    RELEASE,
    RELEASE_NAMESPACE,
    Cluster,
    OperatorProcess,
    a_station,
    audit_events,
    condition,
    example,
    get_json,
    namespace_router,
    operator_environment,
    run_emulator,
    until,
)


@pytest.fixture(scope="module")
def release(api: client.ApiClient, helm_run: Run) -> str:
    """The chart installed (and uninstalled by the last test, while the operator still runs)."""
    delete_crds(api)  # a fresh cluster's: another test's release may have kept them
    helm_run("install", RELEASE, str(CHART), "--namespace", RELEASE_NAMESPACE, "--create-namespace")
    return RELEASE_NAMESPACE


@pytest.fixture(scope="module")
def host_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    """`chargeplane up` on a loopback address of its own, with the services' default ports: the
    operator reaches it at http://<host>:{port} for every namespace."""
    folder = tmp_path_factory.mktemp("platform")
    with running_platform(folder / "up.log", host=free_loopback_host()) as platform:
        yield platform


@pytest.fixture(scope="module")
def operator(api: client.ApiClient, control_plane: ControlPlane, release: str, host_platform: RunningPlatform,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    folder = tmp_path_factory.mktemp("operator")
    process = OperatorProcess(operator_environment(api, control_plane, host_platform, folder), folder / "operator.log")
    process.start()
    yield process
    process.stop()


@pytest.fixture
def cluster(api: client.ApiClient, namespace: str) -> Cluster:
    return Cluster(api, namespace)


def kubectl_table(output: str) -> list[dict[str, str]]:
    """kubectl's table as rows of column -> cell (cells may be empty, so columns are cut where
    the header's are)."""
    header, *lines = output.splitlines() or [""]
    starts = [i for i, c in enumerate(header) if c != " " and (i == 0 or header[i - 1] == " ")]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    names = [header[a:b].strip() for a, b in bounds]
    return [{name: line[a:b].strip() for name, (a, b) in zip(names, bounds, strict=True)} for line in lines]


def bills(platform: RunningPlatform, station_id: str) -> list[dict[str, Any]]:
    return get_json(f"{platform.env['BILLING_URL']}/internal/billing/transactions?station_id={station_id}")["items"]


def energy_unit_price(bill: dict[str, Any]) -> Decimal:
    return next(Decimal(item["unit_price"]) for item in bill["line_items"] if item["dimension"] == "ENERGY")


def platform_ref(cluster: Cluster) -> str:
    platform = eventually(lambda: cluster.custom("Platform", "chargeplane"), what="the namespace's Platform")
    return str(platform["metadata"]["uid"])


def test_the_examples_run_on_the_real_api_server_as_the_charts_service_account(
    api: client.ApiClient, kubectl: Run, cluster: Cluster, operator: OperatorProcess,
    host_platform: RunningPlatform, tmp_path: Path,
) -> None:
    gateway = host_platform.env["OCPP_HTTP_URL"]
    kubectl("apply", "--namespace", cluster.namespace, "--filename", str(REPO / "examples"))

    # the Platform, owned by the Tariff; the platform's objects, owned by the Platform alone
    tariff = eventually(lambda: cluster.custom("Tariff", "city-tou"), what="the Tariff exists")
    station = cluster.custom("ChargingStation", "depot-01")
    assert station is not None
    platform_uid = platform_ref(cluster)
    platform = cluster.custom("Platform", "chargeplane")
    assert [o["uid"] for o in platform["metadata"]["ownerReferences"]] == [tariff["metadata"]["uid"]]
    wanted = [f"{kind}/chargeplane-{service}" for service in PLATFORM_SERVICES for kind in ("Deployment", "Service")]
    wanted += ["Secret/chargeplane-platform-database", "Secret/chargeplane-platform-jwt",
               "PodDisruptionBudget/chargeplane-ocpp", "NetworkPolicy/chargeplane-internal",
               "NetworkPolicy/chargeplane-stations", "NetworkPolicy/chargeplane-public-api"]

    def platform_made() -> dict[str, tuple[str, list[str]]] | None:
        objects = cluster.owned_objects()
        return objects if all(objects.get(name, ("", []))[1] == [platform_uid] for name in wanted) else None

    eventually(platform_made, what="every object of the platform, owned by the Platform")
    station_uid = station["metadata"]["uid"]
    for owned in ("Secret/depot-01-ocpp-credentials", "Deployment/depot-01-simulator"):
        eventually(lambda o=owned: cluster.owned_objects().get(o, ("", []))[1] == [station_uid],
                   what=f"{owned}, owned by its ChargingStation")

    # registered and bound: the station may connect, with the password the operator generated
    eventually(lambda: get_json(f"{gateway}/internal/stations/DEPOT-01"), what="DEPOT-01 is registered")
    kubectl("wait", "--namespace", cluster.namespace, "--for=condition=Ready", "tariff/city-tou", "--timeout=60s")
    eventually(lambda: condition(cluster.custom("ChargingStation", "depot-01"), "TariffBound").get("status") == "True",
               what="the station's tariff is bound")
    password = cluster.secret_value("depot-01-ocpp-credentials", "password")

    emulator = run_emulator(host_platform, "DEPOT-01", password, tmp_path / "emulator.log")
    try:
        first = eventually(lambda: bills(host_platform, "DEPOT-01"), within_s=90, what="the first bill")[0]
        assert first["tariff_id"] == f"{cluster.namespace}.city-tou"

        # kubectl shows it Online, with the CRD's printer columns, and it becomes Ready
        def listed_online() -> dict[str, str] | None:
            rows = kubectl_table(kubectl("get", "chargingstations", "--namespace", cluster.namespace).stdout)
            return rows[0] if rows and rows[0]["STATUS"] == "Online" and rows[0]["READY"] == "True" else None

        row = eventually(listed_online, what="kubectl get chargingstations shows DEPOT-01 Online and Ready")
        assert list(row) == ["NAME", "STATION", "STATUS", "CONNECTORS", "LAST-HEARTBEAT", "TARIFF", "READY", "AGE"]
        assert (row["NAME"], row["STATION"], row["TARIFF"]) == ("depot-01", "DEPOT-01", "city-tou")
        kubectl("wait", "--namespace", cluster.namespace, "--for=condition=Ready", "chargingstation/depot-01",
                "--timeout=30s")
        platforms = kubectl_table(kubectl("get", "platforms", "--namespace", cluster.namespace).stdout)
        assert (platforms[0]["NAME"], platforms[0]["STATIONS"], platforms[0]["GATEWAYS"]) == ("chargeplane", "1", "1")
        assert platforms[0]["VERSION"] == operator.env["CHARGEPLANE_IMAGE"].rpartition(":")[2]

        # a restarted operator duplicates nothing: the same objects, the same uids, the same owners
        before = cluster.owned_objects()
        operator.stop()
        operator.start()
        time.sleep(5)  # a few status and reconcile rounds
        assert cluster.owned_objects() == before

        # a Tariff change reprices the next bill (both time-of-use elements, whichever applies now)
        assert energy_unit_price(first) in {Decimal("0.45"), Decimal("0.29")}
        elements = tariff["spec"]["elements"]
        elements[0]["priceComponents"][0]["price"], elements[1]["priceComponents"][0]["price"] = 0.55, 0.35
        cluster.patch_spec("Tariff", "city-tou", {"elements": elements})
        tariff_url = f"{host_platform.env['BILLING_URL']}/internal/tariffs/{cluster.namespace}.city-tou"
        eventually(lambda: [c["price"] for c in get_json(tariff_url)["definition"]["elements"][0]["price_components"]
                            if c["type"] == "ENERGY"] == ["0.55"], what="the changed Tariff is in billing")
        eventually(lambda: condition(cluster.custom("Tariff", "city-tou"), "Synced").get("observedGeneration") == 2,
                   what="the Tariff says so")
    finally:
        emulator.terminate()
        emulator.wait(30)
    emulator = run_emulator(host_platform, "DEPOT-01", password, tmp_path / "emulator.log",
                            "--sessions", "1", "--session-seconds", "2")
    try:
        second = eventually(lambda: next((b for b in bills(host_platform, "DEPOT-01") if b["id"] != first["id"]),
                                         None), within_s=90, what="the second session's bill")
        assert energy_unit_price(second) in {Decimal("0.55"), Decimal("0.35")}, bills(host_platform, "DEPOT-01")
    finally:
        emulator.wait(60)

    # deleting the ChargingStation deregisters it, promptly
    started = time.monotonic()
    kubectl("delete", "chargingstation", "depot-01", "--namespace", cluster.namespace, "--timeout=60s")
    assert time.monotonic() - started < 20
    assert get_json(f"{gateway}/internal/stations/DEPOT-01") is None

    # deleting the namespace's last resource: the Platform goes, the garbage collector takes the rest
    kubectl("delete", "tariff", "city-tou", "--namespace", cluster.namespace, "--timeout=60s")
    eventually(lambda: cluster.custom("Platform", "chargeplane") is None, what="the Platform goes")
    eventually(lambda: not [name for name in cluster.owned_objects() if name.split("/")[1].startswith("chargeplane-")],
               what="the garbage collector removes the platform's objects")


def test_what_someone_deletes_or_edits_comes_back_and_what_the_settings_drop_goes(
    cluster: Cluster, operator: OperatorProcess,
) -> None:
    cluster.create(example("Tariff"))
    platform_uid = platform_ref(cluster)
    eventually(lambda: cluster.get("apps/v1", "Deployment", "chargeplane-billing")
               and cluster.get("v1", "Service", "chargeplane-auth"), what="the platform")
    apps = client.AppsV1Api(cluster.api)
    apps.delete_namespaced_deployment("chargeplane-billing", cluster.namespace)
    apps.patch_namespaced_deployment("chargeplane-sessions", cluster.namespace,
                                     {"spec": {"template": {"spec": {"containers": [
                                         {"name": "sessions", "image": "somebody/else:1"}]}}}})
    client.CoreV1Api(cluster.api).delete_namespaced_service("chargeplane-auth", cluster.namespace)

    def repaired() -> bool:
        billing = cluster.get("apps/v1", "Deployment", "chargeplane-billing")
        sessions = cluster.get("apps/v1", "Deployment", "chargeplane-sessions")
        auth = cluster.get("v1", "Service", "chargeplane-auth")
        return bool(billing and auth and sessions.spec.template.spec.containers[0].image != "somebody/else:1"
                    and billing.metadata.ownerReferences[0].uid == platform_uid)

    eventually(repaired, within_s=30, what="the deleted Deployment and Service and the edited image restored")

    # TLS on, then off again: the volume and the port go with it (server-side apply drops them)
    def gateway_pod() -> Any:
        return cluster.get("apps/v1", "Deployment", "chargeplane-ocpp").spec.template.spec

    with operator.running(gateway_tls_secret="chargeplane-gateway-tls"):
        eventually(lambda: any(v.name == "gateway-tls" for v in gateway_pod().volumes), what="the TLS volume")
    with operator.running():
        eventually(lambda: [v.name for v in gateway_pod().volumes] == ["tmp"]
                   and [p.name for p in gateway_pod().containers[0].ports] == ["http", "ocpp"],
                   what="no TLS volume or port once TLS is off")


def test_gateway_replicas_follow_the_stations_and_a_new_image_updates_the_platform_in_place(
    cluster: Cluster, operator: OperatorProcess,
) -> None:
    with operator.running(stations_per_gateway_replica="1"):
        cluster.create(example("Tariff"))
        for number in (1, 2):
            cluster.create(a_station(f"rep-{number}", f"{cluster.namespace}-REP-{number}"))

        def gateway_replicas() -> int:
            deployment = cluster.get("apps/v1", "Deployment", "chargeplane-ocpp")
            return int(deployment.spec.replicas) if deployment else 0

        eventually(lambda: gateway_replicas() == 2, what="two gateway replicas for two stations")
        cluster.delete("ChargingStation", "rep-2")
        eventually(lambda: gateway_replicas() == 1, what="one gateway replica for one station")
        jwt = cluster.secret_value("chargeplane-platform-jwt", "jwt-secret")

    with operator.running(image="chargeplane:next"):
        def images() -> set[str]:
            found = set()
            for service in PLATFORM_SERVICES:
                pod = cluster.get("apps/v1", "Deployment", f"chargeplane-{service}").spec.template.spec
                found |= {c.image for c in (*pod.initContainers, *pod.containers)}
            return found

        eventually(lambda: images() == {"chargeplane:next"}, what="every platform pod on the new image")
    # the JWT key is never rotated: every token issued before stays valid
    assert cluster.secret_value("chargeplane-platform-jwt", "jwt-secret") == jwt


def test_the_platform_pods_meet_the_restricted_pod_security_standard(api: client.ApiClient,
                                                                    operator: OperatorProcess) -> None:
    """In a namespace that enforces `restricted`, the ReplicaSets' pods are admitted (no kubelet
    runs them, but the API server's PodSecurity admission has checked each)."""
    name = f"restricted-{int(time.time())}"
    client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
        name=name, labels={"pod-security.kubernetes.io/enforce": "restricted"})))
    cluster = Cluster(api, name)
    cluster.create(example("Tariff"))
    cluster.create(a_station("sim", f"{name}-SIM", simulator={"enabled": True}))

    def refused() -> list[str]:
        replica_sets = client.AppsV1Api(api).list_namespaced_replica_set(name).items
        return [f"{rs.metadata.name}: {c.message}" for rs in replica_sets
                for c in rs.status.conditions or [] if c.type == "ReplicaFailure"]

    def pods_of_every_deployment() -> set[str] | None:
        assert refused() == []
        pods = client.CoreV1Api(api).list_namespaced_pod(name).items
        made = {p.metadata.labels.get("chargeplane.io/service") or p.metadata.labels.get("chargeplane.io/station")
                for p in pods}
        return None if (set(PLATFORM_SERVICES) | {"sim"}) - made else made

    eventually(pods_of_every_deployment, within_s=60, what="a pod of every platform Deployment and the simulator")


async def test_a_station_without_its_tariff_says_so_until_the_tariff_exists(cluster: Cluster,
                                                                           operator: OperatorProcess) -> None:
    cluster.create(a_station("lonely", f"{cluster.namespace}-LONELY"))
    missing = await until(lambda: (s := cluster.custom("ChargingStation", "lonely"))
                          and condition(s, "TariffBound").get("reason") == "TariffNotFound" and s)
    assert "city-tou" in condition(missing, "TariffBound")["message"]
    assert condition(missing, "Registered")["status"] == "True"  # it may connect meanwhile
    ready = await until(lambda: condition(cluster.custom("ChargingStation", "lonely"), "Ready"))
    assert (ready["status"], ready["reason"]) == ("False", "NotReconciled")
    cluster.create(example("Tariff"))
    await until(lambda: condition(cluster.custom("ChargingStation", "lonely"), "Ready").get("status") == "True")


async def test_the_security_profile_of_a_station_is_the_gateways(cluster: Cluster, operator: OperatorProcess,
                                                                host_platform: RunningPlatform) -> None:
    station_id = f"{cluster.namespace}-P2"
    cluster.create(example("Tariff"))
    cluster.create(a_station("profile-2", station_id, securityProfile=2))
    url = f"{host_platform.env['OCPP_HTTP_URL']}/internal/stations/{station_id}"
    await until(lambda: (get_json(url) or {}).get("security_profile") == 2, what="registered with profile 2")


async def test_billing_rejecting_a_tariff_is_a_permanent_error_shown_in_status(cluster: Cluster,
                                                                              operator: OperatorProcess) -> None:
    tariff = example("Tariff")
    tariff["spec"]["timeZone"] = "Mars/Olympus_Mons"  # a string to the schema, unknown to billing
    cluster.create(tariff)
    rejected = await until(lambda: (t := cluster.custom("Tariff", "city-tou"))
                           and condition(t, "Synced").get("reason") == "Rejected" and t)
    assert "time zone" in condition(rejected, "Synced")["message"]
    assert condition(rejected, "Ready")["status"] == "False"


async def test_spec_configuration_is_enforced_on_the_online_station_and_ready_says_so(
    cluster: Cluster, operator: OperatorProcess, host_platform: RunningPlatform, tmp_path: Path,
) -> None:
    station_id = f"{cluster.namespace}-CFG"
    cluster.create(example("Tariff"))
    cluster.create(a_station("cfg", station_id,
                             configuration={"MeterValueSampleInterval": "30", "NumberOfConnectors": "4"}))

    def configuration_reason(reason: str) -> dict[str, Any] | None:
        found = condition(cluster.custom("ChargingStation", "cfg"), "ConfigurationApplied")
        return found if found.get("reason") == reason else None

    # registered, never connected: nothing could be enforced yet, so not Ready
    pending = await until(lambda: configuration_reason("Pending"))
    assert (pending["status"], pending["observedGeneration"]) == ("False", 1)
    password = await until(lambda: cluster.secret_value("cfg-ocpp-credentials", "password"))
    emulator = run_emulator(host_platform, station_id, password, tmp_path / "emulator.log")
    try:
        rejected = await until(lambda: configuration_reason("Rejected"))
        assert rejected["message"] == "the station refused: NumberOfConnectors (Rejected)"
        ready = await until(lambda: condition(cluster.custom("ChargingStation", "cfg"), "Ready").get(
            "reason") == "Rejected" and condition(cluster.custom("ChargingStation", "cfg"), "Ready"))
        assert ready["status"] == "False"

        # a change of the desired state reaches the online station
        cluster.patch_spec("ChargingStation", "cfg", {"configuration": {"MeterValueSampleInterval": "45",
                                                                        "NumberOfConnectors": None}})
        applied = await until(lambda: configuration_reason("Applied"))
        assert (applied["status"], applied["observedGeneration"]) == ("True", 2)
        assert applied["message"] == "the station reports the desired value of MeterValueSampleInterval"
        await until(lambda: condition(cluster.custom("ChargingStation", "cfg"), "Ready").get("status") == "True")
    finally:
        emulator.terminate()
        emulator.wait(30)


async def test_a_charging_limit_in_the_spec_reaches_the_station_when_it_is_online(
    cluster: Cluster, operator: OperatorProcess, host_platform: RunningPlatform, tmp_path: Path,
) -> None:
    from chargeplane.operator.builders import CHARGING_LIMIT_PROFILE_ID

    station_id = f"{cluster.namespace}-LIM"
    cluster.create(example("Tariff"))
    cluster.create(a_station("lim", station_id, chargingLimit={"maxPowerW": 7400}))

    def limited(reason: str) -> dict[str, Any] | None:
        found = condition(cluster.custom("ChargingStation", "lim"), "ChargingLimited")
        return found if found.get("reason") == reason else None

    waiting = await until(lambda: limited("StationOffline"))
    assert waiting["status"] == "False"
    profiles_url = f"{host_platform.env['OCPP_HTTP_URL']}/internal/stations/{station_id}/charging-profiles"

    def held_limit() -> float | None:
        held = {p["charging_profile_id"]: p["profile"] for p in get_json(profiles_url)["items"]}
        profile = held.get(CHARGING_LIMIT_PROFILE_ID)
        return profile["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] if profile else None

    password = await until(lambda: cluster.secret_value("lim-ocpp-credentials", "password"))
    emulator = run_emulator(host_platform, station_id, password, tmp_path / "emulator.log")
    try:
        await until(lambda: held_limit() == 7400, what="the station holds the 7400 W limit")
        await until(lambda: limited("Applied"))
        cluster.patch_spec("ChargingStation", "lim", {"chargingLimit": {"maxPowerW": 3700}})
        await until(lambda: held_limit() == 3700, what="the station holds the new limit")
        cluster.patch_spec("ChargingStation", "lim", {"chargingLimit": None})
        await until(lambda: held_limit() is None, what="the limit cleared")
        await until(lambda: not condition(cluster.custom("ChargingStation", "lim"), "ChargingLimited"))
    finally:
        emulator.terminate()
        emulator.wait(30)


def test_each_condition_has_one_writer_and_a_spec_change_keeps_the_other_writers(
    cluster: Cluster, operator: OperatorProcess,
) -> None:
    cluster.create(example("Tariff"))
    cluster.create(a_station("two-writers", f"{cluster.namespace}-TW"))
    eventually(lambda: condition(cluster.custom("ChargingStation", "two-writers"), "Connected")
               and condition(cluster.custom("ChargingStation", "two-writers"), "TariffBound").get("status") == "True",
               what="both writers' conditions")
    cluster.patch_spec("ChargingStation", "two-writers", {"heartbeatIntervalSeconds": 120})
    eventually(lambda: condition(cluster.custom("ChargingStation", "two-writers"), "Registered").get(
        "observedGeneration") == 2, what="the handlers ran for generation 2")
    station = cluster.custom("ChargingStation", "two-writers")
    assert condition(station, "Connected")  # the status loop's, still there
    managers: dict[str, list[str]] = {}
    for entry in station["metadata"]["managedFields"]:
        if entry.get("subresource") != "status":
            continue
        conditions = entry["fieldsV1"].get("f:status", {}).get("f:conditions", {})
        managers[entry["manager"]] = sorted(json.loads(key[2:])["type"] for key in conditions if key.startswith("k:"))
    assert managers == {
        "chargeplane-operator": ["Registered", "TariffBound"],
        "chargeplane-operator-status": ["ConfigurationApplied", "Connected", "Ready"],
    }


def test_two_namespaces_are_two_tenants_with_a_database_each(
    api: client.ApiClient, operator: OperatorProcess, host_platform: RunningPlatform, tmp_path: Path,
) -> None:
    """The same station id in two namespaces: each namespace's platform has a database and a
    role of its own (made by the operator with the owner's URL, which stays in the operator's
    namespace), so both stations charge and are billed in their own namespace, neither role
    can open the other's database, and deleting one station leaves the other."""
    tenants = {}
    for tenant in ("north", "south"):
        name = f"{tenant}-{int(time.time())}"
        client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        tenants[tenant] = Cluster(api, name)
    hosts: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        template = stack.enter_context(namespace_router(hosts))
        stack.enter_context(operator.running(service_url_template=template))
        for cluster in tenants.values():
            cluster.create(example("Tariff"))
            cluster.create(a_station("twin", "TWIN-1"))
        urls = {tenant: eventually(lambda c=cluster: c.secret_value("chargeplane-platform-database", "url"),
                                   what=f"the {tenant} platform's database URL")
                for tenant, cluster in tenants.items()}
        owner = urlsplit(host_platform.env["DATABASE_URL"])
        for tenant, url in urls.items():
            parts = urlsplit(url)
            database = f"chargeplane_{tenants[tenant].namespace.replace('-', '_')}"
            # the namespace's own role on its own database, never the owner's
            assert (parts.username, parts.path, parts.hostname) == (database, f"/{database}", owner.hostname)
        # each namespace's platform, on its own database: `chargeplane up` stands in for its pods
        platforms = {}
        for tenant, cluster in tenants.items():
            host = free_loopback_host()
            platforms[tenant] = stack.enter_context(running_platform(
                tmp_path / f"{tenant}.log", {"DATABASE_URL": urls[tenant]}, host=host))
            hosts[cluster.namespace] = host
        for tenant, cluster in tenants.items():
            eventually(lambda c=cluster: condition(c.custom("ChargingStation", "twin"), "TariffBound").get(
                "status") == "True", within_s=90, what=f"the {tenant} station is registered and bound")
        emulators = [run_emulator(platforms[tenant], "TWIN-1",
                                  cluster.secret_value("twin-ocpp-credentials", "password"),
                                  tmp_path / f"{tenant}-emulator.log", "--sessions", "1", "--session-seconds", "2")
                     for tenant, cluster in tenants.items()]
        for emulator in emulators:
            assert emulator.wait(120) == 0
        for tenant, cluster in tenants.items():
            (bill,) = eventually(lambda t=tenant: bills(platforms[t], "TWIN-1"), within_s=60,
                                 what=f"the {tenant} bill")
            assert bill["tariff_id"] == f"{cluster.namespace}.city-tou"

        # neither role may open the other's database
        async def connect_as(tenant: str, database_of: str) -> str:
            url = urls[tenant].rsplit("/", 1)[0] + "/" + urlsplit(urls[database_of]).path.lstrip("/")
            try:
                conn = await asyncpg.connect(url)
            except asyncpg.InsufficientPrivilegeError as exc:
                return str(exc)
            await conn.close()
            return "connected"

        assert asyncio.run(connect_as("north", "north")) == "connected"
        assert "permission denied for database" in asyncio.run(connect_as("north", "south"))

        # deleting the north station deregisters it there only
        tenants["north"].delete("ChargingStation", "twin")
        eventually(lambda: tenants["north"].custom("ChargingStation", "twin") is None, what="the north station goes")
        assert get_json(f"{platforms['north'].env['OCPP_HTTP_URL']}/internal/stations/TWIN-1") is None
        assert get_json(f"{platforms['south'].env['OCPP_HTTP_URL']}/internal/stations/TWIN-1") is not None
        assert condition(tenants["south"].custom("ChargingStation", "twin"), "Registered")["status"] == "True"


def test_the_operator_exports_its_own_metrics(cluster: Cluster, operator: OperatorProcess) -> None:
    """On its metrics port (the chart's scrape annotations name it): how long its handlers take
    and how they end, and the resources it manages."""
    cluster.create(example("Tariff"))
    eventually(lambda: condition(cluster.custom("Tariff", "city-tou"), "Synced").get("status") == "True",
               what="the Tariff is handled")
    port = operator.last_env["CHARGEPLANE_METRICS_PORT"]

    def samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            text = reply.read().decode()
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}

    def handled() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
        found = samples()
        done = found.get(("chargeplane_operator_handler_outcomes_total",
                          (("handler", "apply_tariff"), ("outcome", "done"))), 0)
        reconciled = found.get(("chargeplane_operator_handler_seconds_count", (("handler", "reconcile_platform"),)), 0)
        return found if done >= 1 and reconciled >= 1 else None

    found = eventually(handled, what="apply_tariff and the namespace's round counted")
    assert found[("chargeplane_operator_handler_seconds_count", (("handler", "apply_tariff"),))] >= 1
    assert found[("chargeplane_operator_resources", (("kind", "Tariff"),))] >= 1
    assert found[("chargeplane_operator_resources", (("kind", "Platform"),))] >= 1


def test_two_operators_never_both_act(cluster: Cluster, operator: OperatorProcess, tmp_path: Path) -> None:
    """kopf peering: of two operators (replicas, or a local run beside the cluster's) only the
    one of the higher priority acts; the other waits, and takes over when the first goes."""
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    with operator.running(log=first_log, peering_priority="100"):
        operator.start(log=second_log, peering_priority="50")
        cluster.create(example("Tariff"))
        eventually(lambda: condition(cluster.custom("Tariff", "city-tou"), "Synced").get("status") == "True",
                   what="the Tariff is handled")
        time.sleep(3)  # the second would have acted by now
        handled = f"tariff {cluster.namespace}.city-tou is in billing"
        assert (first_log.read_text().count(handled), second_log.read_text().count(handled)) == (1, 0)
        # the first goes (and says so in the peering object); the second resumes and acts
        first = operator.processes[0]
        first.terminate()
        first.wait(30)
        cluster.create(a_station("after-takeover", f"{cluster.namespace}-TAKEOVER"))
        eventually(lambda: condition(cluster.custom("ChargingStation", "after-takeover"), "Registered").get(
            "status") == "True", within_s=120, what="the second operator handles a new station")
        assert "Handler 'apply_station' succeeded" in second_log.read_text()


def test_the_operator_used_exactly_the_verbs_it_is_granted(control_plane: ControlPlane,
                                                          operator: OperatorProcess) -> None:
    """Read from the API server's audit log after the tests above: every request of the
    operator's ServiceAccount was allowed, and every verb of the ClusterRole was used."""
    events = audit_events(control_plane, f"system:serviceaccount:{RELEASE_NAMESPACE}:{OPERATOR_ACCOUNT}")
    used, forbidden = set(), []
    for event in events:
        ref = event.get("objectRef") or {}
        if not ref.get("resource"):
            continue  # discovery, open to every authenticated client
        resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        code = event["responseStatus"]["code"]
        if code == 403:
            forbidden.append((event["verb"], ref.get("apiGroup", ""), resource, ref.get("namespace"), ref.get("name")))
        used.add((ref.get("apiGroup", ""), resource, event["verb"]))
        if event["verb"] == "patch" and code == 201:  # a server-side apply that created: RBAC asked for create
            used.add((ref.get("apiGroup", ""), resource, "create"))
    assert forbidden == []
    granted = {(group, resource, verb) for rule in RULES for group in rule["apiGroups"]
               for resource in rule["resources"] for verb in rule["verbs"]}
    assert used == granted


def test_the_service_account_may_do_no_more_than_the_chart_grants(release: str, operator: OperatorProcess) -> None:
    """The token the operator runs with is refused what the ClusterRole does not grant (after the
    audit log's check, whose 'nothing refused' these requests would spoil)."""
    account = config.new_client_from_config(config_file=operator.env["KUBECONFIG"])
    with pytest.raises(ApiException) as refused:
        client.CoreV1Api(account).list_namespaced_pod(release)
    assert refused.value.status == 403
    with pytest.raises(ApiException) as refused:
        client.RbacAuthorizationV1Api(account).list_cluster_role()
    assert refused.value.status == 403
    client.CustomObjectsApi(account).list_cluster_custom_object(GROUP, VERSION, TARIFFS)  # granted


def test_uninstall_leaves_nothing_terminating_while_the_operator_runs(
    api: client.ApiClient, helm_run: Run, release: str, operator: OperatorProcess,
) -> None:
    """The chart's default Tariff: the operator has made the release namespace's platform for it.
    `helm uninstall` deletes it together with the operator's RBAC and ServiceAccount, so nothing
    may wait for the operator to let it go."""
    cluster = Cluster(api, release)
    eventually(lambda: condition(cluster.custom("Tariff", "default"), "Synced").get("status") == "True",
               what="the operator has taken the default Tariff")
    helm_run("uninstall", RELEASE, "--namespace", release, "--wait", "--timeout", "60s")

    def stuck() -> list[str]:
        left = client.CustomObjectsApi(api).list_namespaced_custom_object(GROUP, VERSION, release, TARIFFS)["items"]
        return [f"Tariff/{t['metadata']['name']} {t['metadata'].get('finalizers')}" for t in left]

    eventually(lambda: stuck() == [], within_s=30, what="no Tariff left in the release namespace")
    eventually(lambda: cluster.custom("Platform", "chargeplane") is None, within_s=60,
               what=f"the Platform goes (it was {cluster.custom('Platform', 'chargeplane')})")
    eventually(lambda: not [n for n in cluster.owned_objects() if n.startswith("Deployment/chargeplane-")],
               within_s=60, what="the release namespace's platform is collected")

