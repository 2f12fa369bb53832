"""The operator on the real API server, as the chart runs it: installed with `helm install`, it
runs on this machine (no kubelet here) with the chart's environment and **the token of the
chart's ServiceAccount**, so the API server enforces the chart's ClusterRole on every call. The
platform it drives is `chargeplane up`, reached through CHARGEPLANE_SERVICE_URL_TEMPLATE (its
Deployments are created in the cluster, and their pods stay Pending).

A user applies examples/ with kubectl; the operator makes the namespace's platform (owned by
the resources), registers the station, binds its tariff; an emulated station connects with the
password the operator generated and charges; `kubectl get chargingstations` shows it Online;
a Tariff change reprices the next bill; a restarted operator duplicates nothing; deleting the
ChargingStation deregisters it; deleting the namespace's last resource lets the garbage
collector remove the platform; `helm uninstall` leaves nothing Terminating."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from chargeplane.embedded import free_port
from chargeplane.operator.constants import GROUP, PLATFORM_SERVICES, STATIONS, TARIFFS, VERSION
from support.controlplane import ControlPlane, write_kubeconfig
from support.platform import RunningPlatform, free_loopback_host, running_platform

from .conftest import CHART, REPO, Run, delete_crds, eventually

RELEASE, RELEASE_NAMESPACE = "chargeplane", "chargeplane-system"
OPERATOR_ACCOUNT = "chargeplane-operator"


# ----- the chart installed, the operator run as its ServiceAccount ---------------------------------

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


def service_account_kubeconfig(api: client.ApiClient, plane: ControlPlane, folder: Path) -> Path:
    """A kubeconfig with a token the API server issues for the chart's ServiceAccount (TokenRequest):
    what the kubelet would mount into the operator's pod."""
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[],
                                                                                 expiration_seconds=7200))
    token = client.CoreV1Api(api).create_namespaced_service_account_token(OPERATOR_ACCOUNT, RELEASE_NAMESPACE,
                                                                           request).status.token
    return write_kubeconfig(folder / "operator.kubeconfig", plane.server, plane.ca,
                            user=f"system:serviceaccount:{RELEASE_NAMESPACE}:{OPERATOR_ACCOUNT}", token=token)


def chart_environment(api: client.ApiClient, namespace: str) -> dict[str, str]:
    """The operator container's environment as the chart renders it, Secret references resolved
    (as the kubelet would)."""
    deployment = client.AppsV1Api(api).read_namespaced_deployment(f"{RELEASE}-operator", namespace)
    env = {}
    for variable in deployment.spec.template.spec.containers[0].env:
        if variable.value_from is not None:
            ref = variable.value_from.secret_key_ref
            data = client.CoreV1Api(api).read_namespaced_secret(ref.name, namespace).data
            env[variable.name] = base64.b64decode(data[ref.key]).decode()
        else:
            env[variable.name] = variable.value or ""
    return env


@dataclass
class OperatorProcess:
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen([sys.executable, "-P", "-m", "chargeplane.operator"], env=self.env,
                                            stdout=out, stderr=subprocess.STDOUT)
        port = self.env["CHARGEPLANE_LIVENESS_PORT"]
        eventually(lambda: self.alive() and urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz",
                                                                    timeout=1).status == 200,
                   within_s=60, what="the operator's liveness endpoint answers on the chart's port")

    def alive(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.log.read_text()[-3000:]
        return True

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)

    @contextmanager
    def running(self) -> Iterator[OperatorProcess]:
        self.start()
        try:
            yield self
        finally:
            self.stop()


@pytest.fixture(scope="module")
def operator(api: client.ApiClient, control_plane: ControlPlane, release: str, host_platform: RunningPlatform,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    folder = tmp_path_factory.mktemp("operator")
    host = host_platform.env["OCPP_HTTP_URL"].split("//")[1].split(":")[0]
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHARGEPLANE_")}
    env |= chart_environment(api, release) | {
        "KUBECONFIG": str(service_account_kubeconfig(api, control_plane, folder)),
        "CHARGEPLANE_SERVICE_URL_TEMPLATE": f"http://{host}:{{port}}",
        "CHARGEPLANE_LIVENESS_PORT": str(free_port()),
        # quicker than the chart's defaults, so the test takes seconds, not minutes
        "CHARGEPLANE_STATUS_INTERVAL": "1", "CHARGEPLANE_RETRY_DELAY": "1",
    }
    process = OperatorProcess(env, folder / "operator.log")
    with process.running():
        yield process


# ----- what a user sees ----------------------------------------------------------------------------

def custom(api: client.ApiClient, namespace: str, plural: str, name: str) -> dict[str, Any] | None:
    try:
        return client.CustomObjectsApi(api).get_namespaced_custom_object(  # type: ignore[no-any-return]
            GROUP, VERSION, namespace, plural, name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def condition(resource: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    return next((c for c in (resource or {}).get("status", {}).get("conditions", []) if c["type"] == type_), {})


def get_json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return json.load(reply)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def platform_objects(api: client.ApiClient, namespace: str) -> dict[str, tuple[str, list[str]]]:
    """kind/name -> (uid, owner uids) of the Deployments, Services and Secrets in the namespace."""
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    found = {}
    for kind, items in (("Deployment", apps.list_namespaced_deployment(namespace).items),
                        ("Service", core.list_namespaced_service(namespace).items),
                        ("Secret", core.list_namespaced_secret(namespace).items)):
        for item in items:
            owners = sorted(o.uid for o in item.metadata.owner_references or [])
            found[f"{kind}/{item.metadata.name}"] = (item.metadata.uid, owners)
    return found


def charge_one_session(platform: RunningPlatform, password: str, folder: Path) -> subprocess.Popen[bytes]:
    """An emulated DEPOT-01 that charges one session and then stays online."""
    with open(folder / "emulator.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-P", "-m", "chargeplane.emulator", "--url", platform.env["OCPP_URL"],
             "--station-id", "DEPOT-01", "--password", password, "--sessions", "1", "--forever",
             "--session-seconds", "3", "--meter-interval", "1", "--power-kw", "11"],
            stdout=log, stderr=subprocess.STDOUT)


def kubectl_table(output: str) -> list[dict[str, str]]:
    """kubectl's table as rows of column -> cell (cells may be empty, so columns are cut where
    the header's are)."""
    header, *lines = output.splitlines() or [""]
    starts = [i for i, c in enumerate(header) if c != " " and (i == 0 or header[i - 1] == " ")]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    names = [header[a:b].strip() for a, b in bounds]
    return [{name: line[a:b].strip() for name, (a, b) in zip(names, bounds, strict=True)} for line in lines]


def bills(platform: RunningPlatform) -> list[dict[str, Any]]:
    return get_json(f"{platform.env['BILLING_URL']}/internal/billing/transactions?station_id=DEPOT-01")["items"]


def energy_unit_price(bill: dict[str, Any]) -> Decimal:
    return next(Decimal(item["unit_price"]) for item in bill["line_items"] if item["dimension"] == "ENERGY")


def test_the_examples_run_on_the_real_api_server_as_the_charts_service_account(
    api: client.ApiClient, kubectl: Run, namespace: str, operator: OperatorProcess, host_platform: RunningPlatform,
    tmp_path: Path,
) -> None:
    gateway = host_platform.env["OCPP_HTTP_URL"]
    kubectl("apply", "--namespace", namespace, "--filename", str(REPO / "examples"))

    # the platform: a Deployment and Service per service, owned by the namespace's resources
    tariff = eventually(lambda: custom(api, namespace, TARIFFS, "city-tou"), what="the Tariff exists")
    station = custom(api, namespace, STATIONS, "depot-01")
    assert station is not None
    owners = sorted([tariff["metadata"]["uid"], station["metadata"]["uid"]])

    def platform_made() -> dict[str, tuple[str, list[str]]] | None:
        objects = platform_objects(api, namespace)
        wanted = [f"{kind}/chargeplane-{service}" for service in PLATFORM_SERVICES
                  for kind in ("Deployment", "Service")]
        ready = all(objects.get(name, ("", []))[1] == owners for name in wanted)
        return objects if ready and "Secret/depot-01-ocpp-credentials" in objects else None

    made = eventually(platform_made, what="the platform's objects, owned by the Tariff and the ChargingStation")
    assert made["Secret/depot-01-ocpp-credentials"][1] == [station["metadata"]["uid"]]

    # registered and bound: the station may connect, with the password the operator generated
    eventually(lambda: get_json(f"{gateway}/internal/stations/DEPOT-01"), what="DEPOT-01 is registered")
    eventually(lambda: condition(custom(api, namespace, STATIONS, "depot-01"), "TariffBound").get("status") == "True",
               what="the station's tariff is bound")
    secret = client.CoreV1Api(api).read_namespaced_secret("depot-01-ocpp-credentials", namespace)
    password = base64.b64decode(secret.data["password"]).decode()

    emulator = charge_one_session(host_platform, password, tmp_path)
    try:
        first = eventually(lambda: bills(host_platform), within_s=90, what="the first session's bill")[0]
        assert first["tariff_id"] == f"{namespace}.city-tou"

        # kubectl shows it Online, with the CRD's printer columns
        def listed_online() -> dict[str, str] | None:
            rows = kubectl_table(kubectl("get", "chargingstations", "--namespace", namespace).stdout)
            return rows[0] if rows and rows[0]["STATUS"] == "Online" and rows[0]["LAST-HEARTBEAT"] else None

        row = eventually(listed_online, what="kubectl get chargingstations shows DEPOT-01 Online")
        assert list(row) == ["NAME", "STATION", "STATUS", "CONNECTORS", "LAST-HEARTBEAT", "TARIFF", "AGE"]
        assert (row["NAME"], row["STATION"], row["TARIFF"]) == ("depot-01", "DEPOT-01", "city-tou")
        assert row["CONNECTORS"].split(",")[0] in ("Charging", "Finishing", "Available")
    finally:
        emulator.terminate()
        emulator.wait(30)

    # a restarted operator duplicates nothing: the same objects, the same uids, the same owners
    before = platform_objects(api, namespace)
    assert before["Deployment/depot-01-simulator"][1] == [station["metadata"]["uid"]]
    operator.stop()
    operator.start()
    eventually(lambda: condition(custom(api, namespace, STATIONS, "depot-01"), "Registered").get("status") == "True",
               what="the station is still registered after the restart")
    assert platform_objects(api, namespace) == before

    # a Tariff change reprices the next bill (both time-of-use elements, whichever applies now)
    old_prices = {Decimal("0.45"), Decimal("0.29")}
    assert energy_unit_price(first) in old_prices
    elements = tariff["spec"]["elements"]
    elements[0]["priceComponents"][0]["price"], elements[1]["priceComponents"][0]["price"] = 0.55, 0.35
    client.CustomObjectsApi(api).patch_namespaced_custom_object(GROUP, VERSION, namespace, TARIFFS, "city-tou",
                                                                {"spec": {"elements": elements}})
    eventually(lambda: (custom(api, namespace, TARIFFS, "city-tou") or {}).get("status", {}).get(
        "observedGeneration") == 2 and condition(custom(api, namespace, TARIFFS, "city-tou"), "Synced").get(
        "status") == "True", what="the changed Tariff is in billing")
    emulator = charge_one_session(host_platform, password, tmp_path)
    try:
        second = eventually(lambda: next((b for b in bills(host_platform) if b["id"] != first["id"]), None),
                            within_s=90, what="the second session's bill")
        assert energy_unit_price(second) in {Decimal("0.55"), Decimal("0.35")}
    finally:
        emulator.terminate()
        emulator.wait(30)

    # deleting the ChargingStation deregisters it
    kubectl("delete", "chargingstation", "depot-01", "--namespace", namespace, "--wait=true", "--timeout=60s")
    assert get_json(f"{gateway}/internal/stations/DEPOT-01") is None

    # deleting the namespace's last resource: the garbage collector removes the platform
    kubectl("delete", "tariff", "city-tou", "--namespace", namespace, "--wait=true", "--timeout=60s")
    platform = ("Deployment/chargeplane-", "Service/chargeplane-", "Secret/chargeplane-")
    eventually(lambda: not any(name.startswith(platform) for name in platform_objects(api, namespace)),
               within_s=60, what="the garbage collector removes the platform's objects")


def test_the_service_account_may_do_no_more_than_the_chart_grants(release: str, operator: OperatorProcess) -> None:
    """The token the operator runs with is refused what the ClusterRole does not grant."""
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
    eventually(lambda: condition(custom(api, release, TARIFFS, "default"), "Synced").get("status") == "True",
               what="the operator has taken the default Tariff")
    helm_run("uninstall", RELEASE, "--namespace", release, "--wait", "--timeout", "60s")

    def stuck() -> list[str]:
        left = client.CustomObjectsApi(api).list_namespaced_custom_object(GROUP, VERSION, release, TARIFFS)["items"]
        return [f"Tariff/{t['metadata']['name']} {t['metadata'].get('finalizers')}" for t in left]

    eventually(lambda: stuck() == [], within_s=30, what=f"no Tariff left in {release} (left: {stuck()})")
    eventually(lambda: not any(name.startswith("Deployment/chargeplane-") for name in platform_objects(api, release)),
               within_s=60, what="the release namespace's platform is collected")
