"""The chart's NetworkPolicies, read with NetworkPolicy's semantics: who may open which port of
the pods the chart runs. No network plugin enforces them here (there is no CNI, and no kubelet
runs a pod); tests/kubernetes/test_chart.py shows the API server accepts them. The platform's
pods are what the operator's own builders make, so the selectors stay in step with them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chargeplane.operator.builders import build_platform, build_simulator_deployment
from chargeplane.operator.settings import OperatorSettings
from support.crds import Manifest

from .conftest import Render, the_one

# a namespace's own database and role (operator/databases.py)
DATABASE_URL = "postgresql://chargeplane_fleet:pw@db/chargeplane_fleet"

CHART = Path(__file__).resolve().parents[2] / "charts" / "chargeplane"
EXTERNAL = CHART / "ci" / "external-values.yaml"
ELSEWHERE = "other-namespace"
OWNER = {"apiVersion": "chargeplane.io/v1alpha1", "kind": "ChargingStation", "name": "s", "uid": "u"}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A LabelSelector, for the operators the chart uses (matchLabels, Exists)."""
    expressions = selector.get("matchExpressions", [])
    assert all(e["operator"] == "Exists" for e in expressions)
    return selector.get("matchLabels", {}).items() <= labels.items() and all(e["key"] in labels for e in expressions)


def pod_template(manifest: Manifest) -> tuple[dict[str, str], dict[str, Any]]:
    template = manifest["spec"]["template"]
    return template["metadata"]["labels"], template["spec"]


def named_port(pod: dict[str, Any], name: str) -> int:
    ports = [p["containerPort"] for c in pod["containers"] for p in c.get("ports", []) if p["name"] == name]
    assert len(ports) == 1, f"no container port named {name}"
    return ports[0]


def admits(policies: list[Manifest], target: Manifest, source: dict[str, str], same_namespace: bool, port: int) -> bool:
    """May a pod labelled `source` (in the target's namespace or another) open `port` of `target`'s
    pods? Ingress rules of every policy that selects them, unioned; a pod no policy selects is open."""
    labels, pod = pod_template(target)
    selecting = [p for p in policies if selects(p["spec"]["podSelector"], labels)]
    if not selecting:
        return True
    for policy in selecting:
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        for rule in policy["spec"].get("ingress", []):
            ports = [named_port(pod, p["port"]) if isinstance(p["port"], str) else p["port"]
                     for p in rule.get("ports", [])]
            if ports and port not in ports:
                continue
            if "from" not in rule or any(peer_matches(peer, source, same_namespace) for peer in rule["from"]):
                return True
    return False


def peer_matches(peer: dict[str, Any], source: dict[str, str], same_namespace: bool) -> bool:
    assert "ipBlock" not in peer
    if "namespaceSelector" in peer:
        assert peer["namespaceSelector"] == {}, "any namespace"
    elif not same_namespace:
        return False
    return selects(peer.get("podSelector", {}), source)


@pytest.fixture(scope="module")
def platform_pods() -> dict[str, dict[str, str]]:
    """The labels of the pods the operator makes: each platform service's, and a station simulator's."""
    settings = OperatorSettings()
    pods = {m["metadata"]["name"]: pod_template(m)[0]
            for m in build_platform(settings=settings, stations=1, owner=OWNER, database_url=DATABASE_URL)
            if m["kind"] == "Deployment"}
    simulator = build_simulator_deployment("s", {"stationId": "S"}, settings=settings, owner=OWNER)
    return pods | {"simulator": pod_template(simulator)[0]}


def test_postgresql_admits_the_platform_anywhere_the_operator_and_the_helm_test_only(
    render: Render, platform_pods: dict[str, dict[str, str]],
) -> None:
    manifests = render()
    policies = [m for m in manifests if m["kind"] == "NetworkPolicy"]
    postgresql = the_one(manifests, "StatefulSet", "chargeplane-postgresql")
    operator = pod_template(the_one(manifests, "Deployment", "chargeplane-operator"))[0]
    test_pod = the_one(manifests, "Pod", "chargeplane-test-session")["metadata"]["labels"]
    redis, jaeger = (the_one(manifests, "Deployment", f"chargeplane-{n}") for n in ("redis", "jaeger"))
    for name, labels in platform_pods.items():
        expected = name != "simulator"
        for same in (True, False):
            assert admits(policies, postgresql, labels, same, 5432) is expected, name
            assert admits(policies, redis, labels, same, 6379) is expected, name
            assert admits(policies, jaeger, labels, same, 4318) is expected, name
    assert admits(policies, postgresql, operator, True, 5432)
    assert admits(policies, jaeger, operator, True, 4318)  # the operator traces its own work
    assert admits(policies, postgresql, test_pod, True, 5432)
    assert not admits(policies, postgresql, operator, False, 5432)  # another release's operator
    assert not admits(policies, redis, operator, True, 6379)
    assert not admits(policies, postgresql, pod_template(redis)[0], True, 5432)
    assert not admits(policies, postgresql, {}, True, 5432)
    assert not admits(policies, postgresql, platform_pods["chargeplane-ocpp"], True, 5433)


def test_jaegers_ui_is_open_and_the_operator_only_to_its_probe(render: Render,
                                                              platform_pods: dict[str, dict[str, str]]) -> None:
    manifests = render(sets=("operator.livenessPort=9811",))
    policies = [m for m in manifests if m["kind"] == "NetworkPolicy"]
    jaeger = the_one(manifests, "Deployment", "chargeplane-jaeger")
    operator = the_one(manifests, "Deployment", "chargeplane-operator")
    assert admits(policies, jaeger, {}, False, 16686)
    assert not admits(policies, jaeger, {}, False, 4318)
    assert admits(policies, operator, {}, False, 9811)
    assert not admits(policies, operator, platform_pods["chargeplane-ocpp"], True, 8080)


def test_every_probe_the_kubelet_sends_over_the_network_is_admitted(render: Render) -> None:
    """The kubelet probes from the node, which no pod selector matches: a network probe must be on
    a port open to anyone (or the probe be an exec), or a strict network plugin restarts the pod."""
    manifests = render()
    policies = [m for m in manifests if m["kind"] == "NetworkPolicy"]
    for workload in (m for m in manifests if m["kind"] in ("Deployment", "StatefulSet")):
        for container in pod_template(workload)[1]["containers"]:
            for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
                probe = container.get(kind, {})
                network = probe.get("httpGet") or probe.get("tcpSocket")
                if network:
                    port = network["port"]
                    number = named_port(pod_template(workload)[1], port) if isinstance(port, str) else port
                    assert admits(policies, workload, {}, False, number), f"{workload['metadata']['name']} {kind}"


def test_a_policy_for_each_pod_the_chart_runs_and_none_when_disabled(render: Render) -> None:
    def policies(*values: Path, sets: tuple[str, ...] = ()) -> list[str]:
        return sorted(m["metadata"]["name"] for m in render(*values, sets=sets) if m["kind"] == "NetworkPolicy")

    assert policies() == ["chargeplane-jaeger", "chargeplane-operator", "chargeplane-postgresql", "chargeplane-redis"]
    assert policies(EXTERNAL) == ["chargeplane-operator"]
    assert policies(sets=("networkPolicy.enabled=false",)) == []
    manifests = render()
    for kind in ("Deployment", "StatefulSet"):
        for workload in (m for m in manifests if m["kind"] == kind):
            labels = pod_template(workload)[0]
            assert any(selects(p["spec"]["podSelector"], labels) for p in manifests if p["kind"] == "NetworkPolicy"), \
                workload["metadata"]["name"]
