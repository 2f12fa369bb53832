"""What the operator tests share: the operator run as the chart runs it (its environment, the
token of its ServiceAccount), `chargeplane up` for it to drive, and a user's view of the
cluster (kubectl's verbs on the API server, as the official client does them)."""

from __future__ import annotations

import asyncio
import base64
import copy
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web
from kubernetes import client, dynamic
from kubernetes.client.rest import ApiException

from chargeplane.embedded import free_port
from chargeplane.operator.constants import GROUP, VERSION
from support.controlplane import ControlPlane, write_kubeconfig
from support.platform import RunningPlatform

from .conftest import REPO, eventually

RELEASE, RELEASE_NAMESPACE = "chargeplane", "chargeplane-system"
OPERATOR_ACCOUNT = "chargeplane-operator"
PLURALS = {"ChargingStation": "chargingstations", "Tariff": "tariffs", "Platform": "platforms"}


def example(kind: str) -> dict[str, Any]:
    for path in sorted((REPO / "examples").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document["kind"] == kind:
                return copy.deepcopy(document)
    raise LookupError(kind)


def a_station(name: str, station_id: str, **spec: Any) -> dict[str, Any]:
    """The example ChargingStation under another name and station id, its simulator off unless asked."""
    station = example("ChargingStation")
    station["metadata"]["name"] = name
    station["spec"] |= {"stationId": station_id, "simulator": {"enabled": False}, **spec}
    return station


def condition(resource: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    return next((c for c in (resource or {}).get("status", {}).get("conditions", []) if c["type"] == type_), {})


@dataclass
class Cluster:
    """A user's view of one namespace: what kubectl would do, through the official client."""

    api: client.ApiClient
    namespace: str

    def custom(self, kind: str, name: str) -> dict[str, Any] | None:
        try:
            return client.CustomObjectsApi(self.api).get_namespaced_custom_object(  # type: ignore[no-any-return]
                GROUP, VERSION, self.namespace, PLURALS[kind], name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def create(self, resource: dict[str, Any]) -> dict[str, Any]:
        return client.CustomObjectsApi(self.api).create_namespaced_custom_object(  # type: ignore[no-any-return]
            GROUP, VERSION, self.namespace, PLURALS[resource["kind"]], resource)

    def patch_spec(self, kind: str, name: str, spec: dict[str, Any]) -> None:
        client.CustomObjectsApi(self.api).patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURALS[kind], name, {"spec": spec})

    def delete(self, kind: str, name: str) -> None:
        client.CustomObjectsApi(self.api).delete_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURALS[kind], name)

    def get(self, api_version: str, kind: str, name: str) -> Any:
        """A built-in object (dynamic client), or None."""
        try:
            return dynamic.DynamicClient(self.api).resources.get(api_version=api_version, kind=kind).get(
                name=name, namespace=self.namespace)
        except dynamic.exceptions.NotFoundError:
            return None

    def secret_value(self, name: str, key: str) -> str:
        data = client.CoreV1Api(self.api).read_namespaced_secret(name, self.namespace).data
        return base64.b64decode(data[key]).decode()

    def owned_objects(self) -> dict[str, tuple[str, list[str]]]:
        """kind/name -> (uid, owner uids) of every kind of object the operator makes."""
        found = {}
        kinds = (("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "Secret"),
                 ("networking.k8s.io/v1", "NetworkPolicy"), ("policy/v1", "PodDisruptionBudget"))
        resources = dynamic.DynamicClient(self.api).resources
        for api_version, kind in kinds:
            for item in resources.get(api_version=api_version, kind=kind).get(namespace=self.namespace).items:
                owners = sorted(o.uid for o in item.metadata.ownerReferences or [])
                found[f"{kind}/{item.metadata.name}"] = (item.metadata.uid, owners)
        return found


async def until(check: Callable[[], Any], *, within_s: float = 60.0, what: str = "the condition") -> Any:
    """`eventually` for async tests: the check (which calls the API synchronously) runs in a
    thread, so that whatever else the test's event loop serves goes on."""
    return await asyncio.to_thread(eventually, check, within_s=within_s, what=what)


def get_json(url: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.load(reply)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def service_account_kubeconfig(api: client.ApiClient, plane: ControlPlane, folder: Path) -> Path:
    """A kubeconfig with a token the API server issues for the chart's ServiceAccount (TokenRequest):
    what the kubelet would mount into the operator's pod."""
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[],
                                                                                 expiration_seconds=7200))
    token = client.CoreV1Api(api).create_namespaced_service_account_token(OPERATOR_ACCOUNT, RELEASE_NAMESPACE,
                                                                           request).status.token
    return write_kubeconfig(folder / "operator.kubeconfig", plane.server, plane.ca,
                            user=f"system:serviceaccount:{RELEASE_NAMESPACE}:{OPERATOR_ACCOUNT}", token=token)


def chart_environment(api: client.ApiClient) -> dict[str, str]:
    """The operator container's environment as the chart renders it, Secret references resolved
    (as the kubelet would)."""
    deployment = client.AppsV1Api(api).read_namespaced_deployment(f"{RELEASE}-operator", RELEASE_NAMESPACE)
    env = {}
    for variable in deployment.spec.template.spec.containers[0].env:
        if variable.value_from is not None and variable.value_from.field_ref is not None:
            continue  # POD_ID, the pod's name: each OperatorProcess gets a name of its own
        if variable.value_from is not None:
            ref = variable.value_from.secret_key_ref
            data = client.CoreV1Api(api).read_namespaced_secret(ref.name, RELEASE_NAMESPACE).data
            env[variable.name] = base64.b64decode(data[ref.key]).decode()
        else:
            env[variable.name] = variable.value or ""
    return env


@dataclass
class OperatorProcess:
    """`python -m chargeplane.operator` with the chart's environment and the chart's
    ServiceAccount's token; `running(**settings)` starts it with settings changed, as a
    `helm upgrade` of the values would."""

    env: dict[str, str]
    log: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    names: Iterator[int] = field(default_factory=itertools.count)
    # the environment the last process started with (its ports)
    last_env: dict[str, str] = field(default_factory=dict)

    def start(self, log: Path | None = None, **settings: str) -> subprocess.Popen[bytes]:
        """Start one more operator process; its log goes to `log` (default: the shared one)."""
        log = log or self.log
        env = {**self.env, **{f"CHARGEPLANE_{key.upper()}": value for key, value in settings.items()},
               "CHARGEPLANE_LIVENESS_PORT": str(free_port()), "CHARGEPLANE_METRICS_PORT": str(free_port()),
               "POD_ID": f"{RELEASE}-operator-{next(self.names)}"}
        self.last_env = env
        with open(log, "ab") as out:
            process = subprocess.Popen([sys.executable, "-P", "-m", "chargeplane.operator"], env=env,
                                       stdout=out, stderr=subprocess.STDOUT)
        self.processes.append(process)
        port = env["CHARGEPLANE_LIVENESS_PORT"]

        def live() -> bool:
            assert process.poll() is None, log.read_text()[-3000:]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as reply:
                return reply.status == 200

        eventually(live, within_s=60, what="the operator's liveness endpoint answers on the chart's port")
        return process

    def stop(self) -> None:
        while self.processes:
            process = self.processes.pop()
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    @contextmanager
    def running(self, log: Path | None = None, **settings: str) -> Iterator[OperatorProcess]:
        """The operator with these settings for the block; then as before (the chart's settings)."""
        self.stop()
        self.start(log, **settings)
        try:
            yield self
        finally:
            self.stop()
            self.start()


def operator_environment(api: client.ApiClient, plane: ControlPlane, platform: RunningPlatform,
                         folder: Path) -> dict[str, str]:
    host = platform.env["OCPP_HTTP_URL"].split("//")[1].split(":")[0]
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHARGEPLANE_")}
    return env | chart_environment(api) | {
        "KUBECONFIG": str(service_account_kubeconfig(api, plane, folder)),
        "CHARGEPLANE_SERVICE_URL_TEMPLATE": f"http://{host}:{{port}}",
        # the cluster's PostgreSQL, as its owner: the operator makes each namespace's database there
        "CHARGEPLANE_DATABASE_URL": platform.env["DATABASE_URL"],
        # quicker than the chart's defaults, so the tests take seconds, not minutes
        "CHARGEPLANE_STATUS_INTERVAL": "1", "CHARGEPLANE_RETRY_DELAY": "1", "CHARGEPLANE_RECONCILE_INTERVAL": "2",
    }


def run_emulator(platform: RunningPlatform, station_id: str, password: str, log: Path,
                 *args: str) -> subprocess.Popen[bytes]:
    """An emulated station (`chargeplane-emulator`), by default one that charges one short session
    and then stays online, answering the CSMS."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-P", "-m", "chargeplane.emulator", "--url", platform.env["OCPP_URL"],
             "--station-id", station_id, "--password", password, "--meter-interval", "1",
             *(args or ("--sessions", "1", "--forever", "--session-seconds", "2"))],
            stdout=out, stderr=subprocess.STDOUT)


def audit_events(plane: ControlPlane, user: str) -> list[dict[str, Any]]:
    """The audit log's events of one user's requests (every stage but the first is logged once)."""
    events = []
    for line in plane.audit_log.read_text().splitlines():
        event = json.loads(line)
        if event.get("user", {}).get("username") == user and event.get("stage") == "ResponseComplete":
            events.append(event)
    return events


@contextmanager
def namespace_router(platforms: dict[str, str]) -> Iterator[str]:
    """An HTTP router that stands in for the cluster's Services: the operator's template
    `http://127.0.0.1:<port>/{namespace}/{port}` reaches the platform of that namespace
    (namespace -> its `chargeplane up` host). Served from its own thread and loop; the template."""
    port = free_port()
    loop = asyncio.new_event_loop()

    async def forward(request: web.Request) -> web.Response:
        host = platforms[request.match_info["namespace"]]
        url = f"http://{host}:{request.match_info['port']}/{request.match_info['path']}"
        async with aiohttp.ClientSession() as http, http.request(
                request.method, url, params=request.query, data=await request.read(),
                headers={"Content-Type": request.content_type}) as answer:
            return web.Response(status=answer.status, body=await answer.read(), content_type=answer.content_type)

    app = web.Application()
    app.router.add_route("*", "/{namespace}/{port}/{path:.*}", forward)
    runner = web.AppRunner(app)

    async def serve() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(serve(), loop).result(10)
    try:
        yield f"http://127.0.0.1:{port}/{{namespace}}/{{port}}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
