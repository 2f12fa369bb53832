"""`helm install`, `helm upgrade` and `helm uninstall` of charts/chargeplane against the real API
server: with the defaults and with each ci/*-values.yaml, every object the chart renders is
created (the API server validates each against its schema and admission), the CRDs are
Established, an upgrade to a changed chart rolls out, and an uninstall leaves nothing behind and
nothing Terminating. Pods stay Pending here (no kubelet)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, dynamic
from kubernetes.client.rest import ApiException

from support.tools import go_module_file

from .conftest import CHART, Run, eventually

CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
# The Prometheus Operator's CRDs, from its Go module (the chart's ServiceMonitor needs the kind)
PROMETHEUS_OPERATOR = "github.com/prometheus-operator/prometheus-operator@v0.85.0"
SERVICE_MONITOR_CRD = "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"


@pytest.fixture(scope="module")
def resources(api: client.ApiClient) -> dynamic.DynamicClient:
    return dynamic.DynamicClient(api)


@pytest.fixture(scope="module")
def prometheus_operator_crds(api: client.ApiClient) -> None:
    """What a cluster with the Prometheus Operator has: the ServiceMonitor kind."""
    crd = yaml.safe_load(go_module_file(PROMETHEUS_OPERATOR, SERVICE_MONITOR_CRD).read_text())
    try:
        client.ApiextensionsV1Api(api).create_custom_resource_definition(crd)
    except ApiException as exc:
        if exc.status != 409:
            raise


def release_objects(helm_run: Run, release: str, namespace: str) -> list[dict[str, Any]]:
    manifest = helm_run("get", "manifest", release, "--namespace", namespace).stdout
    return [doc for doc in yaml.safe_load_all(manifest) if doc]


def find(resources: dynamic.DynamicClient, manifest: dict[str, Any], namespace: str) -> Any:
    """The object as the API server has it, or None."""
    kind = resources.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
    try:
        return kind.get(name=manifest["metadata"]["name"],
                        namespace=(manifest["metadata"].get("namespace") or namespace) if kind.namespaced else None)
    except dynamic.exceptions.NotFoundError:
        return None


def established(api: client.ApiClient, name: str) -> bool:
    conditions = client.ApiextensionsV1Api(api).read_custom_resource_definition(name).status.conditions or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)


def terminating(resources: dynamic.DynamicClient, namespace: str) -> list[str]:
    """Objects of the namespace's ChargePlane kinds and of what the chart makes that are stuck deleting."""
    stuck = []
    for api_version, kind in (("chargeplane.io/v1alpha1", "Tariff"), ("chargeplane.io/v1alpha1", "ChargingStation"),
                              ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("v1", "Service"),
                              ("v1", "Secret"), ("v1", "ServiceAccount"), ("v1", "PersistentVolumeClaim")):
        for item in resources.resources.get(api_version=api_version, kind=kind).get(namespace=namespace).items:
            if item.metadata.deletionTimestamp:
                stuck.append(f"{kind}/{item.metadata.name} (finalizers {item.metadata.finalizers})")
    return stuck


@pytest.mark.parametrize("values", [None, *CI_VALUES], ids=["defaults", *(p.stem for p in CI_VALUES)])
def test_install_creates_every_object_and_uninstall_leaves_nothing(
    helm_run: Run, api: client.ApiClient, resources: dynamic.DynamicClient, namespace: str,
    prometheus_operator_crds: None, values: Path | None,
) -> None:
    release = "cp"
    helm_run("install", release, str(CHART), "--namespace", namespace, *(["--values", str(values)] if values else []))
    for path in sorted((CHART / "crds").glob("*.yaml")):
        name = yaml.safe_load(path.read_text())["metadata"]["name"]
        eventually(lambda n=name: established(api, n), within_s=30, what=f"CRD {name} is Established")
    objects = release_objects(helm_run, release, namespace)
    assert objects
    missing = [f"{m['kind']}/{m['metadata']['name']}" for m in objects if find(resources, m, namespace) is None]
    assert missing == []

    helm_run("uninstall", release, "--namespace", namespace, "--wait", "--timeout", "60s")
    eventually(lambda: all(find(resources, m, namespace) is None for m in objects), within_s=60,
               what="every object of the release is gone")
    assert terminating(resources, namespace) == []


def test_an_upgrade_to_a_changed_chart_rolls_out(helm_run: Run, resources: dynamic.DynamicClient, namespace: str,
                                                 tmp_path: Path) -> None:
    helm_run("install", "cp", str(CHART), "--namespace", namespace)
    changed = tmp_path / "chargeplane"
    shutil.copytree(CHART, changed)
    chart = yaml.safe_load((changed / "Chart.yaml").read_text())
    chart["version"] = "0.1.1"
    (changed / "Chart.yaml").write_text(yaml.safe_dump(chart))
    helm_run("upgrade", "cp", str(changed), "--namespace", namespace, "--set", "operator.statusInterval=7",
             "--set", "platform.logLevel=DEBUG")

    (release,) = json.loads(helm_run("list", "--namespace", namespace, "--output", "json").stdout)
    assert (release["revision"], release["status"], release["chart"]) == ("2", "deployed", "chargeplane-0.1.1")
    operator = next(m for m in release_objects(helm_run, "cp", namespace)
                    if m["kind"] == "Deployment" and m["metadata"]["name"].endswith("-operator"))
    live = find(resources, operator, namespace)
    env = {e["name"]: e.get("value") for e in live.spec.template.spec.containers[0].env}
    assert (env["CHARGEPLANE_STATUS_INTERVAL"], env["CHARGEPLANE_LOG_LEVEL"]) == ("7", "DEBUG")
    assert live.metadata.labels["helm.sh/chart"] == "chargeplane-0.1.1"
    helm_run("uninstall", "cp", "--namespace", namespace, "--wait")
    assert terminating(resources, namespace) == []
