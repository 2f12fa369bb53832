"""`helm install`, `helm upgrade` and `helm uninstall` of charts/chargeplane against the real API
server: with the defaults and with each ci/*-values.yaml, every object the chart renders is
created (the API server validates each against its schema and admission), the CRDs are
Established, an upgrade to a changed chart rolls out and upgrades a changed CRD, and an
uninstall leaves nothing behind but what it is meant to keep (the CRDs, with crds.keep) and
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

from chargeplane.operator.constants import GROUP, TARIFFS, VERSION
from support.tools import go_module_file

from .conftest import CHART, CRD_NAMES, Run, crds_established, eventually

CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
KEEP = "helm.sh/resource-policy"
# docs/kubernetes.md: what removes the database volume and its password after an uninstall
DATABASE_LEFT = "app.kubernetes.io/instance={release},app.kubernetes.io/component in (postgresql,database)"
# The Prometheus Operator's CRDs, from its Go module (the chart's ServiceMonitor and
# PrometheusRule need the kinds)
PROMETHEUS_OPERATOR = "github.com/prometheus-operator/prometheus-operator@v0.85.0"
PROMETHEUS_OPERATOR_CRDS = [f"example/prometheus-operator-crd/monitoring.coreos.com_{plural}.yaml"
                            for plural in ("servicemonitors", "prometheusrules")]


@pytest.fixture(scope="module")
def resources(api: client.ApiClient) -> dynamic.DynamicClient:
    return dynamic.DynamicClient(api)


@pytest.fixture(scope="module")
def prometheus_operator_crds(api: client.ApiClient) -> None:
    """What a cluster with the Prometheus Operator has: the ServiceMonitor and PrometheusRule kinds,
    whose schemas the API server then holds the chart's objects to."""
    for path in PROMETHEUS_OPERATOR_CRDS:
        crd = yaml.safe_load(go_module_file(PROMETHEUS_OPERATOR, path).read_text())
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


def crds(api: client.ApiClient) -> dict[str, Any]:
    """The ChargePlane CRDs the API server has, by name."""
    return {crd.metadata.name: crd for crd in client.ApiextensionsV1Api(api).list_custom_resource_definition().items
            if crd.metadata.name in CRD_NAMES}


def tariffs(api: client.ApiClient, namespace: str) -> list[str]:
    items = client.CustomObjectsApi(api).list_namespaced_custom_object(GROUP, VERSION, namespace, TARIFFS)["items"]
    return [item["metadata"]["name"] for item in items]


def terminating(resources: dynamic.DynamicClient, namespace: str) -> list[str]:
    """Objects of the namespace's ChargePlane kinds and of what the chart makes that are stuck deleting."""
    stuck = []
    for api_version, kind in (("chargeplane.io/v1alpha1", "Tariff"), ("chargeplane.io/v1alpha1", "ChargingStation"),
                              ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("v1", "Service"),
                              ("v1", "Secret"), ("v1", "ServiceAccount"), ("v1", "PersistentVolumeClaim")):
        try:
            items = resources.resources.get(api_version=api_version, kind=kind).get(namespace=namespace).items
        except (dynamic.exceptions.NotFoundError, dynamic.exceptions.ResourceNotFoundError):
            continue  # a kind no longer served (its CRD deleted) has no object left to be stuck
        for item in items:
            if item.metadata.deletionTimestamp:
                stuck.append(f"{kind}/{item.metadata.name} (finalizers {item.metadata.finalizers})")
    return stuck


@pytest.mark.parametrize("values", [None, *CI_VALUES], ids=["defaults", *(p.stem for p in CI_VALUES)])
def test_install_creates_every_object_and_uninstall_leaves_nothing(
    helm_run: Run, api: client.ApiClient, resources: dynamic.DynamicClient, namespace: str,
    prometheus_operator_crds: None, no_crds: None, values: Path | None,
) -> None:
    release = "cp"
    helm_run("install", release, str(CHART), "--namespace", namespace, *(["--values", str(values)] if values else []))
    chosen = yaml.safe_load(values.read_text()) if values else {}
    if chosen.get("crds", {}).get("enabled", True):
        eventually(lambda: crds_established(api), within_s=30, what="the CRDs are Established")
    else:  # a pipeline applies crds/ itself
        assert crds(api) == {}
    objects = release_objects(helm_run, release, namespace)
    assert objects
    missing = [f"{m['kind']}/{m['metadata']['name']}" for m in objects if find(resources, m, namespace) is None]
    assert missing == []
    # the default Tariff is a post-install hook: its kind exists only once the release's CRDs do
    if chosen.get("defaultTariff", {}).get("enabled", True):
        assert tariffs(api, namespace) == ["default"]

    helm_run("uninstall", release, "--namespace", namespace, "--wait", "--timeout", "60s")
    # kept: the CRDs (crds.keep) and the database's password (beside its volume)
    removed = [m for m in objects if m["metadata"].get("annotations", {}).get(KEEP) != "keep"]
    eventually(lambda: all(find(resources, m, namespace) is None for m in removed), within_s=60,
               what="every object of the release is gone")
    assert not crds(api) or tariffs(api, namespace) == []
    assert terminating(resources, namespace) == []


def test_an_upgrade_to_a_changed_chart_rolls_out(helm_run: Run, resources: dynamic.DynamicClient, namespace: str,
                                                 no_crds: None, tmp_path: Path) -> None:
    helm_run("install", "cp", str(CHART), "--namespace", namespace)
    changed = tmp_path / "chargeplane"
    shutil.copytree(CHART, changed)
    chart = yaml.safe_load((changed / "Chart.yaml").read_text())
    major, minor, patch = chart["version"].split(".")
    chart["version"] = next_version = f"{major}.{minor}.{int(patch) + 1}"
    (changed / "Chart.yaml").write_text(yaml.safe_dump(chart))
    helm_run("upgrade", "cp", str(changed), "--namespace", namespace, "--set", "operator.statusInterval=7",
             "--set", "platform.logLevel=DEBUG")

    (release,) = json.loads(helm_run("list", "--namespace", namespace, "--output", "json").stdout)
    assert (release["revision"], release["status"]) == ("2", "deployed")
    assert release["chart"] == f"chargeplane-{next_version}"
    operator = next(m for m in release_objects(helm_run, "cp", namespace)
                    if m["kind"] == "Deployment" and m["metadata"]["name"].endswith("-operator"))
    live = find(resources, operator, namespace)
    env = {e["name"]: e.get("value") for e in live.spec.template.spec.containers[0].env}
    assert (env["CHARGEPLANE_STATUS_INTERVAL"], env["CHARGEPLANE_LOG_LEVEL"]) == ("7", "DEBUG")
    assert live.metadata.labels["helm.sh/chart"] == f"chargeplane-{next_version}"
    helm_run("uninstall", "cp", "--namespace", namespace, "--wait")
    assert terminating(resources, namespace) == []


def test_helm_upgrade_upgrades_a_changed_crd(helm_run: Run, api: client.ApiClient, namespace: str, no_crds: None,
                                            tmp_path: Path) -> None:
    """What a chart's crds/ folder never does (Helm creates those once and skips them on every
    upgrade): the next chart version's CRD, here with one more printer column, reaches the API
    server, and the Tariff made under the old one is still there."""
    helm_run("install", "cp", str(CHART), "--namespace", namespace)
    eventually(lambda: crds_established(api), within_s=30, what="the CRDs are Established")
    changed = tmp_path / "chargeplane"
    shutil.copytree(CHART, changed)
    path = changed / "files" / "crds" / f"{TARIFFS}.{GROUP}.yaml"
    crd = yaml.safe_load(path.read_text())
    crd["spec"]["versions"][0]["additionalPrinterColumns"].append(
        {"name": "Tax", "type": "number", "jsonPath": ".spec.taxRate"})
    path.write_text(yaml.safe_dump(crd))
    helm_run("upgrade", "cp", str(changed), "--namespace", namespace)

    live = crds(api)[f"{TARIFFS}.{GROUP}"]
    assert "Tax" in [column.name for column in live.spec.versions[0].additional_printer_columns]
    assert tariffs(api, namespace) == ["default"]
    helm_run("uninstall", "cp", "--namespace", namespace, "--wait")


@pytest.mark.parametrize("keep", [True, False], ids=["crds.keep", "crds.keep=false"])
def test_uninstall_keeps_the_crds_only_with_crds_keep(helm_run: Run, api: client.ApiClient,
                                                      resources: dynamic.DynamicClient, namespace: str,
                                                      no_crds: None, keep: bool) -> None:
    helm_run("install", "cp", str(CHART), "--namespace", namespace, "--set", f"crds.keep={str(keep).lower()}")
    eventually(lambda: crds_established(api), within_s=30, what="the CRDs are Established")
    helm_run("uninstall", "cp", "--namespace", namespace, "--wait", "--timeout", "60s")
    if keep:
        kept = crds(api)
        assert sorted(kept) == CRD_NAMES
        assert [name for name, crd in kept.items() if crd.metadata.deletion_timestamp] == []
        assert tariffs(api, namespace) == []
    else:  # deleting a CRD deletes its objects first: nothing may hold one with a finalizer
        eventually(lambda: crds(api) == {}, within_s=60, what="the CRDs are deleted, not left Terminating")
    assert terminating(resources, namespace) == []


def test_a_new_release_takes_over_the_kept_crds_with_take_ownership(helm_run: Run, api: client.ApiClient,
                                                                    namespace: str, no_crds: None) -> None:
    """docs/kubernetes.md: CRDs kept by an uninstall still name the release that made them; a
    release of another name or namespace adopts them with --take-ownership (Helm 3.17 or later)."""
    helm_run("install", "first", str(CHART), "--namespace", namespace, "--set", "defaultTariff.enabled=false")
    helm_run("uninstall", "first", "--namespace", namespace, "--wait")
    refused = helm_run("install", "second", str(CHART), "--namespace", namespace, check=False)
    assert refused.returncode != 0 and "invalid ownership metadata" in refused.stderr
    helm_run("install", "second", str(CHART), "--namespace", namespace, "--take-ownership")
    for crd in crds(api).values():
        assert crd.metadata.annotations["meta.helm.sh/release-name"] == "second"
    helm_run("uninstall", "second", "--namespace", namespace, "--wait")


def test_crds_applied_by_hand_are_adopted_after_the_documented_labels(helm_run: Run, api: client.ApiClient,
                                                                      kubectl: Run, namespace: str,
                                                                      no_crds: None) -> None:
    """CRDs made by `kubectl apply -f crds/`, or by chart 0.1.0 (which carried them in crds/), have
    no Helm ownership: docs/kubernetes.md's two kubectl commands hand them to the release."""
    kubectl("apply", "--server-side", "-f", str(CHART.parents[1] / "crds"))
    refused = helm_run("install", "cp", str(CHART), "--namespace", namespace, check=False)
    assert refused.returncode != 0 and "invalid ownership metadata" in refused.stderr
    kubectl("label", "crd", *CRD_NAMES, "app.kubernetes.io/managed-by=Helm", "--overwrite")
    kubectl("annotate", "crd", *CRD_NAMES, "meta.helm.sh/release-name=cp",
            f"meta.helm.sh/release-namespace={namespace}", "--overwrite")
    helm_run("install", "cp", str(CHART), "--namespace", namespace)
    for crd in crds(api).values():
        assert crd.metadata.annotations["helm.sh/resource-policy"] == "keep"
    helm_run("uninstall", "cp", "--namespace", namespace, "--wait")


def test_an_existing_secret_is_used_and_no_password_is_generated(helm_run: Run, api: client.ApiClient,
                                                                  namespace: str, no_crds: None) -> None:
    """postgresql.auth.existingSecret: the release makes no Secret, PostgreSQL and the operator
    read the one named, and an upgrade renders the same objects (what Argo CD and Flux need)."""
    core = client.CoreV1Api(api)
    core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="pg-credentials"), string_data={"password": "from-the-vault-0123"}))
    chosen = ("--set", "postgresql.auth.existingSecret=pg-credentials")
    helm_run("install", "cp", str(CHART), "--namespace", namespace, *chosen)

    def secrets() -> list[str]:  # helm keeps its release records in Secrets of its own type
        return sorted(s.metadata.name for s in core.list_namespaced_secret(namespace).items
                      if s.type != "helm.sh/release.v1")

    assert secrets() == ["pg-credentials"]
    apps = client.AppsV1Api(api)
    (server,) = apps.read_namespaced_stateful_set("cp-chargeplane-postgresql", namespace).spec.template.spec.containers
    password = next(e for e in server.env if e.name == "POSTGRES_PASSWORD").value_from.secret_key_ref
    assert (password.name, password.key) == ("pg-credentials", "password")
    operator = apps.read_namespaced_deployment("cp-chargeplane-operator", namespace).spec.template.spec
    for container in (*operator.init_containers, *operator.containers):
        env = {e.name: e for e in container.env}
        assert env["POSTGRES_PASSWORD"].value_from.secret_key_ref.name == "pg-credentials"
        url = (env.get("DATABASE_URL") or env["CHARGEPLANE_DATABASE_URL"]).value
        assert url.startswith("postgresql://chargeplane:$(POSTGRES_PASSWORD)@cp-chargeplane-postgresql.")

    first = helm_run("get", "manifest", "cp", "--namespace", namespace).stdout
    helm_run("upgrade", "cp", str(CHART), "--namespace", namespace, *chosen)
    assert helm_run("get", "manifest", "cp", "--namespace", namespace).stdout == first
    assert secrets() == ["pg-credentials"]
    helm_run("uninstall", "cp", "--namespace", namespace, "--wait")
    assert secrets() == ["pg-credentials"]  # the user's, not the release's


def test_the_network_policies_are_created(helm_run: Run, api: client.ApiClient, namespace: str,
                                         no_crds: None) -> None:
    """The API server accepts the chart's NetworkPolicies and selects the pods they are for. There
    is no network plugin here (no CNI, no kubelet), so what they block cannot be shown:
    tests/deploy/test_chart_network_policies.py reads them with NetworkPolicy's semantics."""
    helm_run("install", "cp", str(CHART), "--namespace", namespace)
    networking = client.NetworkingV1Api(api)
    policies = {p.metadata.name: p for p in networking.list_namespaced_network_policy(namespace).items}
    assert sorted(policies) == [f"cp-chargeplane-{name}" for name in ("jaeger", "operator", "postgresql", "redis")]
    core = client.CoreV1Api(api)

    def selected(name: str) -> list[str]:  # the pods (Pending here) that a policy's podSelector picks
        labels = ",".join(f"{k}={v}" for k, v in policies[name].spec.pod_selector.match_labels.items())
        return [pod.metadata.name for pod in core.list_namespaced_pod(namespace, label_selector=labels).items]

    for name in policies:
        eventually(lambda n=name: selected(n), within_s=60, what=f"{name} selects its pods")
    helm_run("uninstall", "cp", "--namespace", namespace, "--wait")
    assert networking.list_namespaced_network_policy(namespace).items == []


def test_uninstall_keeps_the_database_volume_with_its_password_for_a_reinstall(
    helm_run: Run, api: client.ApiClient, kubectl: Run, namespace: str, no_crds: None,
) -> None:
    """The StatefulSet's claim outlives the release (Kubernetes never deletes it with the
    StatefulSet), and so does the generated password its data was made with: a reinstall of the
    release reads it back. docs/kubernetes.md's one command removes both."""
    core = client.CoreV1Api(api)
    helm_run("install", "cp", str(CHART), "--namespace", namespace)
    left = DATABASE_LEFT.format(release="cp")

    def kept() -> list[str]:
        return sorted([f"pvc/{c.metadata.name}" for c in core.list_namespaced_persistent_volume_claim(
            namespace, label_selector=left).items] + [f"secret/{s.metadata.name}" for s in
                                                     core.list_namespaced_secret(namespace, label_selector=left).items])

    # the StatefulSet controller makes the claim with the pod (which stays Pending here)
    eventually(lambda: "pvc/data-cp-chargeplane-postgresql-0" in kept(), what="the data volume is claimed")
    password = core.read_namespaced_secret("cp-chargeplane-database", namespace).data["password"]
    helm_run("uninstall", "cp", "--namespace", namespace, "--wait")
    assert kept() == ["pvc/data-cp-chargeplane-postgresql-0", "secret/cp-chargeplane-database"]

    helm_run("install", "cp", str(CHART), "--namespace", namespace)
    assert core.read_namespaced_secret("cp-chargeplane-database", namespace).data["password"] == password
    helm_run("uninstall", "cp", "--namespace", namespace, "--wait")
    kubectl("delete", "pvc,secret", "--namespace", namespace, "--selector", left)
    eventually(lambda: kept() == [], what="the volume and its password are gone")
