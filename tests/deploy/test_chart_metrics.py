"""The chart's ServiceMonitor: rendered only when asked, and aimed at the Services the
operator builds. kubernetes-validate ships only the built-in kinds, not the Prometheus
Operator's CRDs, so the ServiceMonitor's core parts (ObjectMeta, LabelSelector) are
validated as the core types they are, and its own fields are checked here against what
prometheus-operator's monitoring.coreos.com/v1 ServiceMonitor defines."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest

from chargeplane.operator.builders import build_platform
from chargeplane.operator.constants import METRICS_PATH, PLATFORM_SERVICES
from chargeplane.operator.settings import OperatorSettings
from support.crds import Manifest

from .conftest import Render

# a namespace's own database and role (operator/databases.py)
DATABASE_URL = "postgresql://chargeplane_fleet:pw@db/chargeplane_fleet"

# what the operator puts as owner of a namespace's platform objects (its Platform)
PLATFORM = {"apiVersion": "chargeplane.io/v1alpha1", "kind": "Platform", "name": "chargeplane", "uid": "uid-p",
            "controller": True, "blockOwnerDeletion": False}

CHART = Path(__file__).resolve().parents[2] / "charts" / "chargeplane"
SERVICE_MONITOR = CHART / "ci" / "servicemonitor-values.yaml"
KUBERNETES_VERSION = kubernetes_validate.latest_version()
# prometheus-operator's `Duration` pattern
DURATION = re.compile(r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$")
SPEC_FIELDS = {"namespaceSelector", "selector", "endpoints", "targetLabels"}
ENDPOINT_FIELDS = {"port", "path", "interval", "scrapeTimeout"}


def service_monitors(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == "ServiceMonitor"]


def selects(selector: dict[str, object], labels: dict[str, str]) -> bool:
    """LabelSelector semantics for the operators the chart uses (matchLabels, Exists)."""
    match_labels = selector.get("matchLabels", {})
    assert isinstance(match_labels, dict)
    expressions = selector.get("matchExpressions", [])
    assert isinstance(expressions, list) and all(e["operator"] == "Exists" for e in expressions)
    return match_labels.items() <= labels.items() and all(e["key"] in labels for e in expressions)


def test_by_default_no_service_monitor_is_rendered(render: Render) -> None:
    # a cluster without the Prometheus Operator would refuse the whole release
    assert service_monitors(render()) == []


def test_the_service_monitor_is_well_formed(render: Render) -> None:
    (monitor,) = service_monitors(render(SERVICE_MONITOR))
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(monitor) == {"apiVersion", "kind", "metadata", "spec"}
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    spec = monitor["spec"]
    assert set(spec) == SPEC_FIELDS
    assert spec["namespaceSelector"] == {"any": True}
    for core_kind, body in (("ConfigMap", {"metadata": monitor["metadata"]}),
                            ("NetworkPolicy", {"metadata": {"name": "selector"},
                                               "spec": {"podSelector": spec["selector"]}})):
        api_version = "networking.k8s.io/v1" if core_kind == "NetworkPolicy" else "v1"
        kubernetes_validate.validate({"apiVersion": api_version, "kind": core_kind, **body},
                                     KUBERNETES_VERSION, strict=True)
    (endpoint,) = spec["endpoints"]
    assert set(endpoint) == ENDPOINT_FIELDS
    assert (endpoint["interval"], endpoint["scrapeTimeout"]) == ("15s", "5s")
    assert DURATION.match(endpoint["interval"]) and DURATION.match(endpoint["scrapeTimeout"])
    assert all(isinstance(label, str) for label in spec["targetLabels"])


def test_the_service_monitor_scrapes_every_platform_service_and_nothing_else(render: Render) -> None:
    manifests = render(SERVICE_MONITOR)
    (monitor,) = service_monitors(manifests)
    (endpoint,) = monitor["spec"]["endpoints"]
    platform = build_platform(settings=OperatorSettings(), stations=1, owner=PLATFORM, database_url=DATABASE_URL)
    services = [m for m in platform if m["kind"] == "Service"]
    assert len(services) == len(PLATFORM_SERVICES)
    for service in services:
        assert selects(monitor["spec"]["selector"], service["metadata"]["labels"]), service["metadata"]["name"]
        assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
        assert set(monitor["spec"]["targetLabels"]) <= set(service["metadata"]["labels"])
    assert endpoint["path"] == METRICS_PATH
    # the chart's own Services (the node ports onto the same pods among them) are not scraped twice
    for chart_service in (m for m in manifests if m["kind"] == "Service"):
        assert not selects(monitor["spec"]["selector"], chart_service["metadata"]["labels"])


@pytest.mark.parametrize("interval", ["30", "half a minute", "-1s", ""])
def test_a_malformed_scrape_interval_is_refused_by_the_values_schema(helm: Path, chart_dir: Path,
                                                                     interval: str) -> None:
    # the schema holds prometheus-operator's Duration pattern, so helm refuses what the CRD would
    done = subprocess.run([str(helm), "template", "x", str(chart_dir), "--set", "metrics.serviceMonitor.enabled=true",
                           "--set-string", f"metrics.serviceMonitor.interval={interval}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "interval" in done.stderr

