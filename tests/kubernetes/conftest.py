"""Tests against a real Kubernetes control plane (tests/support/controlplane.py): etcd,
kube-apiserver and kube-controller-manager built from their Go modules by `make tools`, started
once per test session. Without the binaries every test here skips with one line (a failure
under CHARGEPLANE_REQUIRE_TOOLS, which CI sets).

There is no kubelet and no scheduler: Deployments get ReplicaSets and Pods, and the Pods stay
Pending. What runs is what the API server itself does (admission, CRD schemas and CEL rules,
RBAC, the status subresource, printer columns) and what the controller-manager does (the
garbage collector, namespaces, service accounts); the operator runs on this machine as the
chart's ServiceAccount, against `chargeplane up`.

Tests drive the API server with the official `kubernetes` client, as a user's tooling would.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from support.controlplane import ControlPlane, running_control_plane
from support.tools import require_binary

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "chargeplane"
CRD_NAMES = sorted(yaml.safe_load(path.read_text())["metadata"]["name"] for path in (REPO / "crds").glob("*.yaml"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.apiserver)


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    with running_control_plane() as plane:
        yield plane


@pytest.fixture(scope="session")
def api(control_plane: ControlPlane) -> Iterator[client.ApiClient]:
    """The admin's client (system:masters), as the person who installs the chart."""
    api_client = config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    yield api_client
    api_client.close()


@pytest.fixture(scope="session")
def kube_env(control_plane: ControlPlane) -> dict[str, str]:
    """The environment of a command run as the admin (helm, kubectl)."""
    return {**os.environ, "KUBECONFIG": str(control_plane.kubeconfig)}


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def helm_run(helm: Path, kube_env: dict[str, str]) -> Run:
    """`helm_run("install", ...)`: helm against the control plane; fails the test on an error
    unless check=False."""

    def run(*args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(helm), *args], env=kube_env, capture_output=True, text=True, timeout=timeout)
        if check:
            assert done.returncode == 0, f"helm {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done

    return run


@pytest.fixture(scope="session")
def kubectl(kube_env: dict[str, str]) -> Run:
    """kubectl of the same release as the API server, built beside it."""
    binary = require_binary("k8s", "kubectl")

    def run(*args: str, check: bool = True, stdin: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(binary), *args], env=kube_env, capture_output=True, text=True,
                              input=stdin, timeout=timeout)
        if check:
            assert done.returncode == 0, f"kubectl {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done

    return run


def crds_established(api: client.ApiClient) -> bool:
    """Every CRD Established and its instances served. The API server refuses lists of a new
    CRD's instances (429 "storage is (re)initializing") until its watch cache is ready
    (KEP 4568), and its CRD finalizer lists through the same cache: a CRD deleted before that
    stays Terminating while the finalizer backs off, for minutes on a busy machine."""
    extensions = client.ApiextensionsV1Api(api)
    for name in CRD_NAMES:
        crd = extensions.read_custom_resource_definition(name)
        conditions = crd.status.conditions or []
        if not any(c.type == "Established" and c.status == "True" for c in conditions):
            return False
        if not instances_served(api, crd):
            return False
    return True


def instances_served(api: client.ApiClient, crd: Any) -> bool:
    version = next(v.name for v in crd.spec.versions if v.storage)
    try:
        client.CustomObjectsApi(api).list_cluster_custom_object(crd.spec.group, version, crd.spec.names.plural,
                                                                limit=1)
    except ApiException as exc:
        if exc.status in (429, 503):
            return False
        raise
    return True


@pytest.fixture
def no_crds(api: client.ApiClient) -> None:
    delete_crds(api)


def delete_crds(api: client.ApiClient) -> None:
    """A cluster without ChargePlane's CRDs, as before a first install. The CRDs are the cluster's,
    and the release that made them owns them: one that another test left behind (kept by
    crds.keep) would make the next install fail (or need --take-ownership, which a test shows)."""
    extensions = client.ApiextensionsV1Api(api)
    present = [crd for crd in extensions.list_custom_resource_definition().items if crd.metadata.name in CRD_NAMES]
    for crd in present:
        eventually(lambda c=crd: instances_served(api, c), within_s=60,
                   what=f"{crd.metadata.name} serves its instances")
    for name in CRD_NAMES:
        try:
            extensions.delete_custom_resource_definition(name)
        except ApiException as exc:
            if exc.status != 404:
                raise

    def left() -> list[str]:
        return [f"{crd.metadata.name}: {[(c.type, c.status, c.message) for c in crd.status.conditions or []]}"
                for crd in extensions.list_custom_resource_definition().items if crd.metadata.name in CRD_NAMES]

    remaining: list[str] = []

    def gone() -> bool:
        remaining[:] = left()
        return not remaining

    try:
        eventually(gone, within_s=120, what="the ChargePlane CRDs are deleted")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; left: {remaining}") from None


@pytest.fixture
def namespace(api: client.ApiClient) -> str:
    """A new namespace for the test (left behind: the control plane goes with the session)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


def eventually(check: Callable[[], Any], *, within_s: float = 60.0, interval: float = 0.25,
               what: str = "the condition") -> Any:
    """Poll `check` until it returns something truthy; its last error or value is reported."""
    deadline = time.monotonic() + within_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as exc:  # an API error while things settle: try again
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"{what} did not hold within {within_s:.0f} s; last: {last!r}")
