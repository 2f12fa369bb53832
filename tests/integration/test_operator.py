"""The real operator (kopf, in this process) against kmock's stateful Kubernetes API and the
real platform services: resources applied as kubectl would, the platform's answers read back.

kmock has no garbage collector, admission or defaulting: ownerReferences are checked here,
schemas and CEL rules in tests/unit/operator."""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import kmock
import kopf
import pytest
import yaml
from aiohttp import web
from kubernetes_asyncio.client import Configuration

from chargeplane.operator import handlers  # noqa: F401  (registers the handlers with kopf)
from chargeplane.operator.constants import (
    DATABASE_SECRET,
    GATEWAY_STATION_PORT,
    GROUP,
    JWT_SECRET,
    JWT_SECRET_KEY,
    LABEL_SERVICE,
    PLATFORM_SERVICES,
    VERSION,
)
from chargeplane.operator.rbac import RULES
from chargeplane.operator.settings import OperatorSettings
from support.station import RawStation, now_z
from support.waiting import wait_for

from .conftest import Platform, running_platform

NAMESPACE = "fleet"
# Requests this test makes (as kubectl would) are told apart from the operator's by agent.
KUBECTL_AGENT = "kubectl-in-test"
VERBS = ["list", "watch", "get", "create", "patch", "update", "delete"]
RESOURCES: dict[str, dict[str, Any]] = {
    f"{GROUP}/{VERSION}/chargingstations": {"kind": "ChargingStation", "namespaced": True, "subresources": ["status"]},
    f"{GROUP}/{VERSION}/tariffs": {"kind": "Tariff", "namespaced": True, "subresources": ["status"]},
    "apps/v1/deployments": {"kind": "Deployment", "namespaced": True},
    "v1/services": {"kind": "Service", "namespaced": True},
    "v1/secrets": {"kind": "Secret", "namespaced": True},
    "v1/namespaces": {"kind": "Namespace", "namespaced": False},
    "apiextensions.k8s.io/v1/customresourcedefinitions": {"kind": "CustomResourceDefinition", "namespaced": False},
}
PATHS = {
    "ChargingStation": f"/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/chargingstations",
    "Tariff": f"/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/tariffs",
    "Deployment": f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments",
    "Service": f"/api/v1/namespaces/{NAMESPACE}/services",
    "Secret": f"/api/v1/namespaces/{NAMESPACE}/secrets",
}
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example(kind: str) -> dict[str, Any]:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document["kind"] == kind:
                return document
    raise LookupError(kind)


class Kubectl:
    """What a user does with kubectl, with the metadata a real API server would add (kmock adds none)."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http
        self.uids = itertools.count(1)

    async def get(self, kind: str, name: str) -> dict[str, Any] | None:
        async with self.http.get(f"{PATHS[kind]}/{name}") as response:
            return await response.json() if response.status == 200 else None

    async def apply(self, manifest: dict[str, Any]) -> str:
        """Create; the new object's uid."""
        uid = next(self.uids)
        metadata = {**manifest["metadata"], "namespace": NAMESPACE, "uid": f"uid-{uid}", "resourceVersion": str(uid),
                    "generation": 1, "creationTimestamp": "2026-11-26T08:00:00Z"}
        async with self.http.post(PATHS[manifest["kind"]], json={**manifest, "metadata": metadata}) as response:
            assert response.status < 300, await response.text()
        return metadata["uid"]

    async def patch_spec(self, kind: str, name: str, spec: dict[str, Any]) -> None:
        current = await self.get(kind, name)
        assert current is not None
        body = {"metadata": {"generation": current["metadata"]["generation"] + 1}, "spec": spec}
        async with self.http.patch(f"{PATHS[kind]}/{name}", json=body,
                                   headers={"Content-Type": "application/merge-patch+json"}) as response:
            assert response.status < 300, await response.text()

    async def delete(self, kind: str, name: str) -> None:
        async with self.http.delete(f"{PATHS[kind]}/{name}") as response:
            assert response.status < 300, await response.text()


def condition(resource: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    conditions = (resource or {}).get("status", {}).get("conditions", [])
    return next((c for c in conditions if c["type"] == type_), {})


def owner_uids(resource: dict[str, Any] | None) -> set[str]:
    return {owner["uid"] for owner in (resource or {}).get("metadata", {}).get("ownerReferences", [])}


@pytest.fixture
def kube(kmock: kmock.KubernetesEmulator) -> kmock.KubernetesEmulator:
    for key, info in RESOURCES.items():
        kmock.resources[key] = kmock.ResourceInfo(verbs=VERBS, **info)
    return kmock


@pytest.fixture
async def kubectl(kube: kmock.KubernetesEmulator) -> AsyncIterator[Kubectl]:
    # a fresh connection per request: a kept-alive one can hang across an operator restart
    async with aiohttp.ClientSession(base_url=str(kube.url), headers={"User-Agent": KUBECTL_AGENT},
                                     connector=aiohttp.TCPConnector(force_close=True),
                                     timeout=aiohttp.ClientTimeout(total=5)) as http:
        yield Kubectl(http)


def free_loopback_host() -> str:
    """A loopback address (Linux routes all of 127/8 to lo) where the services' own ports are free:
    other test runs and `chargeplane up` on this machine use the same ports elsewhere."""
    rng = random.SystemRandom()
    for _ in range(100):
        host = f"127.{rng.randrange(1, 255)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        try:
            for port in (*PLATFORM_SERVICES.values(), GATEWAY_STATION_PORT):
                with socket.socket() as probe:
                    probe.bind((host, port))
        except OSError:
            continue
        return host
    raise RuntimeError("no loopback address with the services' ports free")


@pytest.fixture
async def platform_at_service_ports(db: asyncpg.Pool, redis: object, database_url: str,
                                    redis_url: str) -> AsyncIterator[Platform]:
    """The platform on the services' real ports, so the operator's URL template keeps `{port}`."""
    ports = {name.replace("-", "_"): port for name, port in PLATFORM_SERVICES.items()}
    ports["ocpp_station"] = GATEWAY_STATION_PORT
    async with running_platform(db, database_url, redis_url, ports, free_loopback_host()) as platform:
        yield platform


OperatorRunner = Callable[..., Any]


@pytest.fixture
def run_operator(kube: kmock.KubernetesEmulator, platform_at_service_ports: Platform) -> OperatorRunner:
    """`async with run_operator(**settings):` the operator runs, cluster-wide, against kmock.

    In a thread with its own event loop, as kopf's embedding guide has it: on exit kopf waits
    for and cancels every task its loop gained meanwhile, which must not be kmock's or the
    platform's."""

    @asynccontextmanager
    async def running(**overrides: Any) -> AsyncIterator[None]:
        settings = OperatorSettings(**{
            "image": "chargeplane:test",
            "service_url_template": f"http://{platform_at_service_ports.host}:{{port}}",
            "retry_delay": 0.2, **overrides,
        })
        kopf_settings = kopf.OperatorSettings()
        kopf_settings.watching.reconnect_backoff = 0.1
        # kmock keeps an object's resourceVersion on writes, so kopf would never see its own
        # patch come back by version and would wait out the consistency timeout each time
        kopf_settings.persistence.consistency_timeout = 0
        memo = kopf.Memo(settings=settings, kube_configuration=Configuration(host=str(kube.url)))
        stop = threading.Event()
        operator = threading.Thread(name="operator", target=asyncio.run, args=[kopf.operator(
            clusterwide=True, standalone=True, stop_flag=stop, settings=kopf_settings, memo=memo)])
        operator.start()
        try:
            yield
        finally:
            stop.set()
            await asyncio.to_thread(operator.join, 15)
            assert not operator.is_alive(), "the operator did not stop"

    return running


def used_permissions(kube: kmock.KubernetesEmulator) -> set[tuple[str, str, str]]:
    """(apiGroup, resource[/subresource], verb) of every API request the operator made."""
    verbs = {kmock.action.LIST: "list", kmock.action.WATCH: "watch", kmock.action.FETCH: "get",
             kmock.action.CREATE: "create", kmock.action.DELETE: "delete"}
    used = set()
    for request in kube:
        if request.headers.get("User-Agent") == KUBECTL_AGENT or request.resource is None:
            continue
        if not request.resource.plural:  # discovery, open to every authenticated client
            continue
        resource = request.resource.plural + (f"/{request.subresource}" if request.subresource else "")
        verb = verbs.get(request.action) or ("patch" if request.method == kmock.method.PATCH else "update")
        used.add((request.resource.group, resource, verb))
    return used


def granted_permissions() -> set[tuple[str, str, str]]:
    return {(group, resource, verb) for rule in RULES for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}


async def until(predicate: Callable[[], Awaitable[Any]], within_s: float = 60.0) -> Any:
    # kmock matches each request against all earlier ones, so every poll slows the rest a little
    return await wait_for(predicate, within_s=within_s, interval=0.1)


async def matching(resource: Awaitable[dict[str, Any] | None], test: Callable[[dict[str, Any]], bool]) -> Any:
    """The resource, if it exists and passes `test`."""
    value = await resource
    return value if value is not None and test(value) else None


async def gone(resource: Awaitable[dict[str, Any] | None]) -> bool:
    return await resource is None


async def test_the_examples_make_the_platform_register_bill_show_live_status_and_clean_up(
    run_operator: OperatorRunner, kubectl: Kubectl, kube: kmock.KubernetesEmulator,
    platform_at_service_ports: Platform, http: aiohttp.ClientSession,
) -> None:
    platform = platform_at_service_ports
    billing, gateway = platform.url("billing"), platform.url("ocpp")
    tariff_url = f"{billing}/internal/tariffs/{NAMESPACE}.city-tou"

    async def billing_tariff() -> dict[str, Any] | None:
        async with http.get(tariff_url) as response:
            return await response.json() if response.status == 200 else None

    async def station_view() -> dict[str, Any] | None:
        async with http.get(f"{gateway}/internal/stations/DEPOT-01") as response:
            return await response.json() if response.status == 200 else None

    async with run_operator():
        tariff_uid = await kubectl.apply(example("Tariff"))
        pushed = await until(billing_tariff)
        assert pushed["definition"]["currency"] == "EUR" and len(pushed["definition"]["elements"]) == 2
        for service in PLATFORM_SERVICES:
            deployment = await until(lambda s=service: kubectl.get("Deployment", f"chargeplane-{s}"))
            assert deployment["spec"]["template"]["metadata"]["labels"][LABEL_SERVICE] == service
            assert owner_uids(deployment) == {tariff_uid}
            assert owner_uids(await kubectl.get("Service", f"chargeplane-{service}")) == {tariff_uid}
        tariff = await until(lambda: kubectl.get("Tariff", "city-tou"))
        assert condition(tariff, "Synced")["status"] == "True"
        assert tariff["status"]["pricePerKwh"] == "0.29-0.45"

        station_uid = await kubectl.apply(example("ChargingStation"))
        assert (await until(station_view))["heartbeat_interval"] == 60
        bound = await until(lambda: platform.db.fetchval(
            "SELECT tariff_id FROM station_tariffs WHERE station_id = 'DEPOT-01'"))
        assert bound == f"{NAMESPACE}.city-tou"
        secret = await until(lambda: kubectl.get("Secret", "depot-01-ocpp-credentials"))
        assert owner_uids(secret) == {station_uid} and secret["metadata"]["ownerReferences"][0]["controller"] is True
        simulator = await until(lambda: kubectl.get("Deployment", "depot-01-simulator"))
        args = simulator["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args[:4] == ["--url", "ws://chargeplane-ocpp:8081/ocpp", "--station-id", "DEPOT-01"]
        gateway_owners = owner_uids(await kubectl.get("Deployment", "chargeplane-ocpp"))
        assert gateway_owners == {tariff_uid, station_uid}
        # the platform's secrets are Secrets its pods read; they go with the platform's last owner
        jwt = await until(lambda: matching(kubectl.get("Secret", JWT_SECRET),
                                           lambda s: owner_uids(s) == {tariff_uid, station_uid}))
        assert len(jwt["stringData"][JWT_SECRET_KEY]) >= 64
        database = await kubectl.get("Secret", DATABASE_SECRET)
        assert owner_uids(database) == {tariff_uid, station_uid}
        assert database["stringData"]["url"].startswith("postgresql://")
        auth_env = (await kubectl.get("Deployment", "chargeplane-auth"))["spec"]["template"]["spec"]["containers"][0]
        assert {"name": "JWT_SECRET", "valueFrom": {"secretKeyRef": {"name": JWT_SECRET, "key": JWT_SECRET_KEY}}} in (
            auth_env["env"])

        async def station_phase(phase: str) -> dict[str, Any] | None:
            station = await kubectl.get("ChargingStation", "depot-01")
            return station if (station or {}).get("status", {}).get("phase") == phase else None

        offline = await until(lambda: matching(station_phase("Offline"),
                                               lambda s: condition(s, "TariffBound").get("status") == "True"))
        assert condition(offline, "Registered")["status"] == "True"
        assert offline["status"]["observedGeneration"] == 1

        # the generated password is the station's now (OCPP security profile 1): without it, 401
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{platform.ocpp_url}/DEPOT-01", protocols=["ocpp1.6"])
        assert refused.value.status == 401
        password = secret["stringData"]["password"]  # kmock keeps what the operator wrote
        basic = {"Authorization": aiohttp.encode_basic_auth("DEPOT-01", password)}
        # a station connects: within a few status intervals the resource shows it
        async with http.ws_connect(f"{platform.ocpp_url}/DEPOT-01", protocols=["ocpp1.6"], headers=basic) as ws:
            station = RawStation(ws)
            await station.call("BootNotification", {"chargePointVendor": "ChargePlane", "chargePointModel": "Emulator"})
            await station.call("Heartbeat", {})
            for connector, state in ((1, "Charging"), (2, "Available")):
                await station.call("StatusNotification", {"connectorId": connector, "errorCode": "NoError",
                                                          "status": state, "timestamp": now_z()})
            # Online may be read back before the statuses are: wait for both
            online = await until(lambda: matching(station_phase("Online"),
                                                  lambda s: s["status"]["connectorStates"] == "Charging,Available"))
            assert online["status"]["lastHeartbeat"].endswith("Z")
            assert condition(online, "Connected")["reason"] == "Online"
            assert condition(online, "AsExpected")["status"] == "True"  # the vendor and model of the example
        await until(lambda: station_phase("Offline"))


        # a price change reaches billing
        elements = example("Tariff")["spec"]["elements"]
        elements[1]["priceComponents"][0]["price"] = 0.25
        await kubectl.patch_spec("Tariff", "city-tou", {"elements": elements})

        async def repriced() -> bool:
            tariff = await billing_tariff()
            return tariff is not None and tariff["definition"]["elements"][1]["price_components"][0]["price"] == "0.25"

        await until(repriced)
        await until(lambda: matching(kubectl.get("Tariff", "city-tou"),
                                     lambda t: t["status"]["observedGeneration"] == 2))

        # the simulator goes when it is switched off
        await kubectl.patch_spec("ChargingStation", "depot-01", {"simulator": {"enabled": False}})
        await until(lambda: gone(kubectl.get("Deployment", "depot-01-simulator")))

        # a tariff in use stays, and says why
        await kubectl.delete("Tariff", "city-tou")
        blocked = await until(lambda: matching(kubectl.get("Tariff", "city-tou"),
                                          lambda t: condition(t, "Deletable").get("reason") == "InUse"))
        assert "depot-01" in condition(blocked, "Deletable")["message"]
        assert await billing_tariff() is not None

        # deleting the station deregisters it, and then the tariff can go
        await kubectl.delete("ChargingStation", "depot-01")
        await until(lambda: gone(kubectl.get("ChargingStation", "depot-01")))
        assert await station_view() is None
        assert await platform.db.fetchval("SELECT count(*) FROM station_tariffs") == 0
        await until(lambda: gone(kubectl.get("Tariff", "city-tou")))
        assert await billing_tariff() is None

    assert used_permissions(kube) == granted_permissions()


async def test_a_station_is_deleted_promptly_while_its_status_read_is_in_flight(
    run_operator: OperatorRunner, kubectl: Kubectl, platform_at_service_ports: Platform,
    http: aiohttp.ClientSession, unused_tcp_port: int,
) -> None:
    # kopf lets a timer still running when its resource is deleted finish, and by default looks
    # again only a minute later unless the resource changes meanwhile: here the gateway answers
    # the status read only after the deletion handler is done, and the timer then writes nothing
    platform = platform_at_service_ports
    hold_reads, read_waiting, release_reads = asyncio.Event(), asyncio.Event(), asyncio.Event()
    deregistered = asyncio.Event()  # the deletion handler's last call into the platform answered

    async def forward(request: web.Request) -> web.Response:
        """The operator's calls into the platform, the station view's GET held once `hold_reads` is set."""
        path = request.match_info["path"]
        if request.method == "GET" and path == "internal/stations/DEPOT-01" and hold_reads.is_set():
            read_waiting.set()
            await release_reads.wait()
        async with http.request(request.method, f"http://{platform.host}:{request.match_info['port']}/{path}",
                                params=request.query, data=await request.read(),
                                headers={"Content-Type": request.content_type}) as answer:
            if request.method == "DELETE" and path == "internal/auth/stations/DEPOT-01/password":
                deregistered.set()
            return web.Response(status=answer.status, body=await answer.read(), content_type=answer.content_type)

    proxy = web.Application()
    proxy.router.add_route("*", "/{port}/{path:.*}", forward)
    runner = web.AppRunner(proxy)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    try:
        async with run_operator(service_url_template=f"http://127.0.0.1:{unused_tcp_port}/{{port}}"):
            await kubectl.apply(example("Tariff"))
            await kubectl.apply(example("ChargingStation"))
            await until(lambda: matching(kubectl.get("ChargingStation", "depot-01"),
                                         lambda s: condition(s, "TariffBound").get("status") == "True"))
            hold_reads.set()
            await asyncio.wait_for(read_waiting.wait(), 10)
            await kubectl.delete("ChargingStation", "depot-01")
            await asyncio.wait_for(deregistered.wait(), 10)
            await asyncio.sleep(1)  # for kopf to write down that the handler succeeded
            release_reads.set()
            await until(lambda: gone(kubectl.get("ChargingStation", "depot-01")), within_s=10)
    finally:
        await runner.cleanup()


async def test_a_station_without_its_tariff_says_so_until_the_tariff_exists(
    run_operator: OperatorRunner, kubectl: Kubectl, platform_at_service_ports: Platform,
) -> None:
    async with run_operator():
        await kubectl.apply(example("ChargingStation"))
        missing = await until(lambda: matching(kubectl.get("ChargingStation", "depot-01"),
                                          lambda s: condition(s, "TariffBound").get("reason") == "TariffNotFound"))
        assert condition(missing, "TariffBound")["status"] == "False"
        assert "city-tou" in condition(missing, "TariffBound")["message"]
        assert condition(missing, "Registered")["status"] == "True"  # it may connect meanwhile

        await kubectl.apply(example("Tariff"))
        await until(lambda: matching(kubectl.get("ChargingStation", "depot-01"),
                                lambda s: condition(s, "TariffBound").get("status") == "True"))


async def test_the_security_profile_of_a_station_is_the_gateways(
    run_operator: OperatorRunner, kubectl: Kubectl, platform_at_service_ports: Platform,
    http: aiohttp.ClientSession,
) -> None:
    platform = platform_at_service_ports
    station = example("ChargingStation")
    station["spec"]["securityProfile"] = 2

    async def registered_with_profile_2() -> bool:
        async with http.get(f"{platform.url('ocpp')}/internal/stations/DEPOT-01") as response:
            return response.status == 200 and (await response.json())["security_profile"] == 2

    async with run_operator():
        await kubectl.apply(station)
        await until(registered_with_profile_2)
        secret = await until(lambda: kubectl.get("Secret", "depot-01-ocpp-credentials"))
        basic = {"Authorization": aiohttp.encode_basic_auth("DEPOT-01", secret["stringData"]["password"])}
        # profile 2: even with its password, the plain port refuses the station
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{platform.ocpp_url}/DEPOT-01", protocols=["ocpp1.6"], headers=basic)
        assert refused.value.status == 403


async def test_billing_rejecting_a_tariff_is_a_permanent_error_shown_in_status(
    run_operator: OperatorRunner, kubectl: Kubectl,
) -> None:
    tariff = example("Tariff")
    tariff["spec"]["timeZone"] = "Mars/Olympus_Mons"  # a string to the schema, unknown to billing
    async with run_operator():
        await kubectl.apply(tariff)
        rejected = await until(lambda: matching(kubectl.get("Tariff", "city-tou"),
                                           lambda t: condition(t, "Synced").get("reason") == "Rejected"))
        assert "time zone" in condition(rejected, "Synced")["message"]


async def test_gateway_replicas_follow_the_stations_and_settings_update_the_platform_in_place(
    run_operator: OperatorRunner, kubectl: Kubectl,
) -> None:
    async def gateway() -> dict[str, Any] | None:
        return await kubectl.get("Deployment", "chargeplane-ocpp")

    # one replica per station here (the rule's arithmetic and clamping: tests/unit)
    async with run_operator(stations_per_gateway_replica=1):
        await kubectl.apply(example("Tariff"))
        for number in (1, 2):
            station = example("ChargingStation")
            station["metadata"]["name"] = f"depot-{number:02d}"
            station["spec"] |= {"stationId": f"DEPOT-{number:02d}", "simulator": {"enabled": False}}
            await kubectl.apply(station)
        await until(lambda: matching(gateway(), lambda d: d["spec"]["replicas"] == 2))
        await kubectl.delete("ChargingStation", "depot-02")
        await until(lambda: gone(kubectl.get("ChargingStation", "depot-02")))
        await until(lambda: matching(gateway(), lambda d: d["spec"]["replicas"] == 1))

    # a new image (a chart upgrade restarts the operator with new settings): patched on resume
    def images(deployment: dict[str, Any]) -> set[str]:
        pod = deployment["spec"]["template"]["spec"]
        return {container["image"] for container in (*pod["initContainers"], *pod["containers"])}

    jwt_key = (await kubectl.get("Secret", JWT_SECRET) or {})["stringData"][JWT_SECRET_KEY]
    async with run_operator(image="chargeplane:next"):
        for service in PLATFORM_SERVICES:
            await until(lambda s=service: matching(kubectl.get("Deployment", f"chargeplane-{s}"),
                                                   lambda d: images(d) == {"chargeplane:next"}))
        assert (await gateway() or {})["spec"]["replicas"] == 1
    # the re-run adopted the JWT Secret as it was: every token issued before stays valid
    assert (await kubectl.get("Secret", JWT_SECRET) or {})["stringData"][JWT_SECRET_KEY] == jwt_key


async def test_spec_configuration_is_enforced_on_the_online_station_and_reported_as_a_condition(
    run_operator: OperatorRunner, kubectl: Kubectl, platform_at_service_ports: Platform,
) -> None:
    from chargeplane.emulator.station import Station, StationConfig

    station = example("ChargingStation")
    station["spec"] |= {"simulator": {"enabled": False},
                        "configuration": {"MeterValueSampleInterval": "30", "NumberOfConnectors": "4"}}

    async def configuration_condition(test: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        resource = await kubectl.get("ChargingStation", "depot-01")
        found = condition(resource, "ConfigurationApplied")
        return found if found and test(found) else None

    async with run_operator():
        await kubectl.apply(example("Tariff"))
        await kubectl.apply(station)
        # registered, never connected: nothing could be enforced yet
        pending = await until(lambda: configuration_condition(lambda c: c["reason"] == "Pending"))
        assert (pending["status"], pending["observedGeneration"]) == ("False", 1)
        secret = await until(lambda: kubectl.get("Secret", "depot-01-ocpp-credentials"))
        emulator = Station(StationConfig("DEPOT-01", csms_url=platform_at_service_ports.ocpp_url, connectors=2,
                                         password=secret["stringData"]["password"], meter_interval=60))
        await emulator.connect()
        try:
            rejected = await until(lambda: configuration_condition(lambda c: c["reason"] == "Rejected"))
            assert rejected["status"] == "False"
            assert rejected["message"] == "the station refused: NumberOfConnectors (Rejected)"
            assert emulator.configuration.get("MeterValueSampleInterval") == "30"

            # a change of the desired state reaches the station while it is online
            await kubectl.patch_spec("ChargingStation", "depot-01", {
                "configuration": {"MeterValueSampleInterval": "45", "NumberOfConnectors": None}})
            applied = await until(lambda: configuration_condition(lambda c: c["status"] == "True"))
            assert (applied["reason"], applied["observedGeneration"]) == ("Applied", 2)
            assert applied["message"] == "the station reports the desired value of MeterValueSampleInterval"
            assert emulator.configuration.get("MeterValueSampleInterval") == "45"
        finally:
            await emulator.close()


async def test_a_charging_limit_in_the_spec_reaches_the_station_when_it_is_online(
    run_operator: OperatorRunner, kubectl: Kubectl, platform_at_service_ports: Platform,
) -> None:
    from chargeplane.emulator.station import Station, StationConfig
    from chargeplane.operator.builders import CHARGING_LIMIT_PROFILE_ID

    platform = platform_at_service_ports
    station_spec = example("ChargingStation")
    station_spec["spec"] |= {"simulator": {"enabled": False}, "chargingLimit": {"maxPowerW": 7400}}

    async def limited(reason: str) -> dict[str, Any] | None:
        return await matching(kubectl.get("ChargingStation", "depot-01"),
                              lambda s: condition(s, "ChargingLimited").get("reason") == reason)

    async with run_operator():
        await kubectl.apply(example("Tariff"))
        await kubectl.apply(station_spec)
        waiting = await until(lambda: limited("StationOffline"))
        assert condition(waiting, "ChargingLimited")["status"] == "False"

        secret = await until(lambda: kubectl.get("Secret", "depot-01-ocpp-credentials"))
        station = Station(StationConfig("DEPOT-01", csms_url=platform.ocpp_url, connectors=2,
                                        password=secret["stringData"]["password"]))
        await station.connect()
        try:
            def station_limit() -> Callable[[], Awaitable[float | None]]:
                async def held_limit() -> float | None:
                    held = station.charging_profiles.installed.get(CHARGING_LIMIT_PROFILE_ID)
                    return held.profile["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] if held else None

                return held_limit

            assert await until(station_limit()) == 7400
            held = station.charging_profiles.installed[CHARGING_LIMIT_PROFILE_ID]
            assert (held.connector_id, held.purpose) == (0, "ChargePointMaxProfile")
            assert station.charging_profiles.limit_w(0, datetime.now(UTC), datetime.now(UTC)) == 7400
            applied = await until(lambda: limited("Applied"))
            assert condition(applied, "ChargingLimited")["status"] == "True"
            stored = await platform.db.fetchval(
                "SELECT profile FROM charging_profiles WHERE station_id = 'DEPOT-01' AND charging_profile_id = $1",
                CHARGING_LIMIT_PROFILE_ID)
            assert stored == held.profile

            # a new limit in the spec replaces it; no limit clears it
            await kubectl.patch_spec("ChargingStation", "depot-01", {"chargingLimit": {"maxPowerW": 3700}})
            await until(lambda: matching(station_limit()(), lambda limit: limit == 3700))
            await kubectl.patch_spec("ChargingStation", "depot-01", {"chargingLimit": None})

            async def cleared() -> bool:
                return CHARGING_LIMIT_PROFILE_ID not in station.charging_profiles.installed

            await until(cleared)
            await until(lambda: matching(kubectl.get("ChargingStation", "depot-01"),
                                         lambda s: not condition(s, "ChargingLimited")))
        finally:
            await station.close()
