"""The chart's PrometheusRule: rendered only when asked; its rules are what Prometheus itself
accepts (`promtool check rules`: the PromQL parsed, durations, the annotations' templates), and
each alert fires on series that cross its threshold and stays quiet on series that do not
(`promtool test rules`, Prometheus' rule unit tests, with the thresholds of the defaults and of
ci/prometheusrule-values.yaml); the metrics it reads are the ones the platform exports.
promtool is built from Prometheus' Go module (`make tools`; tools/prometheus/go.mod)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from chargeplane.common import metrics
from chargeplane.services.ocpp.core.metrics import CONNECTED_STATIONS
from support.crds import Manifest
from support.tools import require_binary

from .conftest import Render

CHART = Path(__file__).resolve().parents[2] / "charts" / "chargeplane"
RULE_VALUES = CHART / "ci" / "prometheusrule-values.yaml"
ENABLED = ("metrics.prometheusRule.enabled=true",)
CASES = {"defaults": ((), ENABLED), "prometheusrule-values": ((RULE_VALUES,), ())}
EXPORTED = {"chargeplane_outbox_dead_events": metrics.OUTBOX_DEAD, "chargeplane_ocpp_connected_stations":
            CONNECTED_STATIONS, "chargeplane_outbox_oldest_event_age_seconds": metrics.OUTBOX_OLDEST_AGE}
KUBE_STATE_METRICS = {"kube_deployment_status_replicas_unavailable", "kube_deployment_labels"}


@pytest.fixture(scope="module")
def promtool() -> Path:
    return require_binary("prometheus", "promtool")


def prometheus_rules(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == "PrometheusRule"]


def rule_settings(*values: Path) -> dict[str, Any]:
    """metrics.prometheusRule as values.yaml and the given files make it."""
    settings: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())["metrics"]["prometheusRule"]
    for path in values:
        for alert, chosen in yaml.safe_load(path.read_text())["metrics"]["prometheusRule"].items():
            settings[alert] = {**settings[alert], **chosen} if isinstance(chosen, dict) else chosen
    return settings


def minutes(duration: str) -> int:
    match = re.fullmatch(r"(\d+)m", duration)
    assert match, f"the tests here step in minutes: {duration}"
    return int(match[1])


def humanize_duration(seconds: int) -> str:
    """Prometheus' humanizeDuration, for the whole minutes under an hour used here."""
    assert seconds % 60 == 0 and seconds < 3600
    return f"{seconds // 60}m 0s"


def test_by_default_no_prometheus_rule_is_rendered(render: Render) -> None:
    # a cluster without the Prometheus Operator would refuse the whole release
    assert prometheus_rules(render()) == []


@pytest.mark.parametrize("case", CASES)
def test_promtool_accepts_the_rules(render: Render, promtool: Path, tmp_path: Path, case: str) -> None:
    values, sets = CASES[case]
    (rule,) = prometheus_rules(render(*values, sets=sets))
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule["spec"]))
    done = subprocess.run([str(promtool), "check", "rules", "--lint-fatal", str(tmp_path / "rules.yaml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 4 rules found" in done.stdout


def test_the_rules_read_metrics_the_platform_exports(render: Render) -> None:
    (rule,) = prometheus_rules(render(sets=ENABLED))
    expressions = " ".join(r["expr"] for group in rule["spec"]["groups"] for r in group["rules"])
    read = set(re.findall(r"\b((?:chargeplane|kube)_[a-z_]+)\b", expressions))
    assert read == set(EXPORTED) | KUBE_STATE_METRICS
    for name, metric in EXPORTED.items():
        assert metric._name == name  # the gauge's exposition name, as services/*/metrics.py declare it


def series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    return {"series": name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}", "values": values}


def dead_events_test(alert: dict[str, Any]) -> dict[str, Any]:
    """Two replicas of sessions report the same dead events (one alert, not two); below the threshold, none."""
    above, at = alert["threshold"] + 1, alert["threshold"]
    length = minutes(alert["for"]) + 10
    inputs = [series("chargeplane_outbox_dead_events", {"namespace": "site-a", "source": "sessions",
                                                        "destination": "billing", "pod": pod}, f"{above}x{length}")
              for pod in ("sessions-0", "sessions-1")]
    inputs.append(series("chargeplane_outbox_dead_events", {"namespace": "site-b", "source": "sessions",
                                                            "destination": "billing", "pod": "sessions-0"},
                         f"{at}x{length}"))
    fired = {"exp_labels": {"severity": alert["severity"], "namespace": "site-a", "source": "sessions",
                            "destination": "billing"},
             "exp_annotations": {
                 "summary": "Outbox events were rejected by their receiver and wait for someone to look.",
                 "description": f"{above} dead outbox events from sessions to billing in namespace site-a: what "
                                "they carry (a session, a bill) is not applied until they are looked into and "
                                "replayed."}}
    return {"interval": "1m", "input_series": inputs, "alert_rule_test": [
        {"eval_time": "0m", "alertname": "ChargePlaneOutboxDeadEvents", "exp_alerts": []},  # pending, not firing
        {"eval_time": f"{minutes(alert['for']) + 3}m", "alertname": "ChargePlaneOutboxDeadEvents",
         "exp_alerts": [fired]}]}


def oldest_event_test(alert: dict[str, Any]) -> dict[str, Any]:
    above = alert["maxAgeSeconds"] + 60
    length = minutes(alert["for"]) + 10
    inputs = [series("chargeplane_outbox_oldest_event_age_seconds", {"namespace": "site-a", "source": "ocpp",
                                                                     "destination": destination},
                     f"{age}x{length}")
              for destination, age in (("sessions", above), ("telemetry", alert["maxAgeSeconds"]))]
    fired = {"exp_labels": {"severity": alert["severity"], "namespace": "site-a", "source": "ocpp",
                            "destination": "sessions"},
             "exp_annotations": {
                 "summary": "Outbox events are not delivered; their receiver is down or falls behind.",
                 "description": "The oldest undelivered outbox event from ocpp to sessions in namespace site-a is "
                                f"{humanize_duration(above)} old."}}
    return {"interval": "1m", "input_series": inputs, "alert_rule_test": [
        {"eval_time": f"{minutes(alert['for']) + 3}m", "alertname": "ChargePlaneOutboxEventsDelayed",
         "exp_alerts": [fired]}]}


def stations_offline_test(alert: dict[str, Any]) -> dict[str, Any]:
    """Namespaces whose gateways lose stations at minute `drop`: site-a more than the fraction, site-b
    less, site-c too few stations to count, site-d every gateway gone (its series end)."""
    window, hold, fraction, least = minutes(alert["window"]), minutes(alert["for"]), alert["fraction"], \
        alert["minStations"]
    drop, evaluated = window + 1, window + 1 + hold + 6  # a gone series counts for 5 more minutes
    assert evaluated < drop + window, "the window must still see the stations from before the drop"
    before = 2 * max(least, 50)  # two gateways of before/2 each
    per_gateway = before // 2

    def gateway(namespace: str, pod: str, after: str) -> dict[str, str]:
        return series("chargeplane_ocpp_connected_stations", {"namespace": namespace, "pod": pod},
                      f"{per_gateway}x{drop - 1} {after}")

    lost_a = int(before * min(fraction + 0.1, 1.0))
    lost_b = int(before * max(fraction - 0.1, 0.0))
    length = evaluated + 2 - drop
    inputs = [
        gateway("site-a", "ocpp-0", f"{per_gateway}x{length}"),
        gateway("site-a", "ocpp-1", f"{per_gateway - lost_a}x{length}"),
        gateway("site-b", "ocpp-0", f"{per_gateway}x{length}"),
        gateway("site-b", "ocpp-1", f"{per_gateway - lost_b}x{length}"),
        series("chargeplane_ocpp_connected_stations", {"namespace": "site-c", "pod": "ocpp-0"},
               f"{least - 1}x{drop - 1} 0x{length}"),
        gateway("site-d", "ocpp-0", f"_x{length}"),
        gateway("site-d", "ocpp-1", f"_x{length}"),
    ]

    def fired(namespace: str, lost: int) -> dict[str, Any]:
        return {"exp_labels": {"severity": alert["severity"], "namespace": namespace},
                "exp_annotations": {
                    "summary": "Many stations lost their connection to the gateway at once.",
                    "description": f"{lost} fewer stations are connected in namespace {namespace} than "
                                   f"{alert['window']} ago (more than a fraction {fraction} of them)."}}

    return {"interval": "1m", "input_series": inputs, "alert_rule_test": [
        {"eval_time": f"{drop - 1}m", "alertname": "ChargePlaneStationsOffline", "exp_alerts": []},
        {"eval_time": f"{evaluated}m", "alertname": "ChargePlaneStationsOffline",
         "exp_alerts": [fired("site-a", lost_a), fired("site-d", before)]}]}


def deployment_unavailable_test(alert: dict[str, Any]) -> dict[str, Any]:
    """A ChargePlane Deployment (by kube-state-metrics' label series) with an unavailable replica;
    another application's is not ChargePlane's business."""
    length = minutes(alert["for"]) + 10
    inputs = []
    for deployment, part_of in (("chargeplane-ocpp", "chargeplane"), ("shop", "webshop")):
        key = {"namespace": "site-a", "deployment": deployment, "job": "kube-state-metrics"}
        inputs += [series("kube_deployment_status_replicas_unavailable", key, f"1x{length}"),
                   series("kube_deployment_labels", {**key, "label_app_kubernetes_io_part_of": part_of},
                          f"1x{length}")]
    fired = {"exp_labels": {"severity": alert["severity"], "namespace": "site-a", "deployment": "chargeplane-ocpp"},
             "exp_annotations": {
                 "summary": "A ChargePlane Deployment has replicas that are not available.",
                 "description": "Deployment site-a/chargeplane-ocpp has 1 unavailable replicas."}}
    return {"interval": "1m", "input_series": inputs, "alert_rule_test": [
        {"eval_time": f"{minutes(alert['for']) + 3}m", "alertname": "ChargePlaneDeploymentUnavailable",
         "exp_alerts": [fired]}]}


@pytest.mark.parametrize("case", CASES)
def test_each_alert_fires_above_its_threshold_and_not_below(render: Render, promtool: Path, tmp_path: Path,
                                                            case: str) -> None:
    values, sets = CASES[case]
    (rule,) = prometheus_rules(render(*values, sets=sets))
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule["spec"]))
    settings = rule_settings(*values)
    tests = [dead_events_test(settings["outboxDeadEvents"]), oldest_event_test(settings["outboxOldestEvent"]),
             stations_offline_test(settings["stationsOffline"]),
             deployment_unavailable_test(settings["deploymentUnavailable"])]
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m",
                                                         "tests": tests}))
    done = subprocess.run([str(promtool), "test", "rules", str(tmp_path / "tests.yaml")], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
