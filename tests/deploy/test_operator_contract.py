"""The chart keeps the operator's contract: its settings (operator/settings.py), its RBAC
rules (operator/rbac.py), and its names, ports and labels (operator/constants.py)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from chargeplane.operator.builders import build_platform
from chargeplane.operator.constants import GATEWAY_STATION_PORT, LABEL_SERVICE, NAME_PREFIX
from chargeplane.operator.rbac import RULES
from chargeplane.operator.settings import OperatorSettings
from support.crds import Manifest

from .conftest import NAMESPACE, Render, the_one

# a namespace's own database and role (operator/databases.py)
DATABASE_URL = "postgresql://chargeplane_fleet:pw@db/chargeplane_fleet"

# what the operator puts as owner of a namespace's platform objects (its Platform)
PLATFORM = {"apiVersion": "chargeplane.io/v1alpha1", "kind": "Platform", "name": "chargeplane", "uid": "uid-p",
            "controller": True, "blockOwnerDeletion": False}

CHART = Path(__file__).resolve().parents[2] / "charts" / "chargeplane"
EXTERNAL = CHART / "ci" / "external-values.yaml"
OVERRIDES = CHART / "ci" / "overrides-values.yaml"
GITOPS = CHART / "ci" / "gitops-values.yaml"
ENV_PREFIX = OperatorSettings.model_config["env_prefix"]


def operator_env(manifests: list[Manifest]) -> dict[str, str]:
    """The operator's settings in its container's environment, with each secretKeyRef read from
    the rendered Secret (POD_ID, the pod's name from the downward API, is kopf's, not a setting)."""
    deployment = next(m for m in manifests if m["kind"] == "Deployment"
                      and m["metadata"]["labels"]["app.kubernetes.io/component"] == "operator")
    container = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "operator")
    env = {}
    for variable in container["env"]:
        if variable["name"] == "POD_ID":
            assert variable["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
            continue
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        else:
            ref = variable["valueFrom"]["secretKeyRef"]
            secret = the_one(manifests, "Secret", ref["name"])
            data = secret.get("stringData") or {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
            env[variable["name"]] = data[ref["key"]]
    return env


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> OperatorSettings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return OperatorSettings()


@pytest.mark.parametrize("values", [[], [EXTERNAL], [OVERRIDES]], ids=["defaults", "external", "overrides"])
def test_the_operator_gets_exactly_its_settings_fields(render: Render, values: list[Path]) -> None:
    env = operator_env(render(*values))
    assert set(env) == {f"{ENV_PREFIX}{field}".upper() for field in OperatorSettings.model_fields}


def test_with_existing_secrets_the_operator_gets_its_settings_fields_and_the_password_they_are_made_of(
    render: Render,
) -> None:
    """ci/gitops-values.yaml: the database URL is composed by the kubelet from POSTGRES_PASSWORD,
    which is no setting of the operator's (it reads CHARGEPLANE_* only)."""
    deployment = the_one(render(GITOPS), "Deployment", "chargeplane-operator")
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    fields = {f"{ENV_PREFIX}{field}".upper() for field in OperatorSettings.model_fields}
    names = [variable["name"] for variable in env]
    assert set(names) - fields == {"POSTGRES_PASSWORD", "POD_ID"}
    assert fields <= set(names)
    url = next(v["value"] for v in env if v["name"] == "CHARGEPLANE_DATABASE_URL")
    assert "$(POSTGRES_PASSWORD)" in url and names.index("POSTGRES_PASSWORD") < names.index("CHARGEPLANE_DATABASE_URL")


def test_by_default_the_operator_points_the_platform_at_the_charts_own_servers(
    render: Render, monkeypatch: pytest.MonkeyPatch, project_version: str
) -> None:
    settings = settings_from(operator_env(render()), monkeypatch)
    assert settings.image == f"chargeplane:{project_version}"
    assert settings.database_url.startswith("postgresql://chargeplane:")
    assert settings.database_url.endswith(f"@chargeplane-postgresql.{NAMESPACE}.svc:5432/chargeplane")
    assert settings.redis_url == f"redis://chargeplane-redis.{NAMESPACE}.svc:6379/0"
    assert settings.otlp_endpoint == f"http://chargeplane-jaeger.{NAMESPACE}.svc:4318"
    # what the chart does not derive stays the model's default
    defaults = OperatorSettings.model_construct()
    for field in ("image_pull_policy", "log_level", "stations_per_gateway_replica", "gateway_max_replicas",
                  "status_interval", "service_url_template"):
        assert getattr(settings, field) == getattr(defaults, field), field


def test_external_servers_replace_the_charts_own(render: Render, monkeypatch: pytest.MonkeyPatch) -> None:
    manifests = render(EXTERNAL)
    settings = settings_from(operator_env(manifests), monkeypatch)
    assert settings.database_url == "postgresql://chargeplane:secret@db.example.internal:5432/chargeplane"
    assert settings.redis_url == "redis://cache.example.internal:6379/2"
    assert settings.otlp_endpoint == "http://otel-collector.observability.svc:4318"
    assert not {"StatefulSet"} & {m["kind"] for m in manifests}
    assert [m["metadata"]["name"] for m in manifests if m["kind"] == "Deployment"] == ["chargeplane-operator"]


def test_values_reach_the_operator(render: Render, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from(operator_env(render(OVERRIDES)), monkeypatch)
    assert settings.image == "registry.example.com/ev/chargeplane:0.1.0-rc.1"
    assert settings.image_pull_policy == "Always"
    assert (settings.log_level, settings.stations_per_gateway_replica, settings.gateway_max_replicas,
            settings.status_interval) == ("DEBUG", 200, 3, 2.5)
    assert ":not-a-secret-in-ci@" in settings.database_url


@pytest.mark.parametrize(("values", "upload_base_url"), [
    ([], None), ([OVERRIDES], "http://csms.example.com:31081"),
    ([CHART / "ci" / "kind-values.yaml"], "http://localhost:8081"),  # kind publishes the gateway there
], ids=["defaults", "overrides", "kind"])
def test_the_upload_address_reaches_the_gateway_only_when_set(render: Render, monkeypatch: pytest.MonkeyPatch,
                                                              values: list[Path], upload_base_url: str | None) -> None:
    """platform.gateway.uploadBaseUrl -> the operator's setting -> the gateway Deployment it builds."""
    settings = settings_from(operator_env(render(*values)), monkeypatch)
    gateway = next(m for m in build_platform(settings=settings, stations=1, owner=PLATFORM, database_url=DATABASE_URL)
                   if m["kind"] == "Deployment" and m["metadata"]["name"] == f"{NAME_PREFIX}ocpp")
    env = {e["name"]: e.get("value") for e in gateway["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env.get("UPLOAD_BASE_URL") == upload_base_url


def _rule_set(rules: list[dict[str, Any]]) -> list[tuple[tuple[str, ...], ...]]:
    return sorted(tuple(tuple(sorted(rule.get(key, []))) for key in ("apiGroups", "resources", "verbs"))
                  for rule in rules)


def test_the_cluster_role_grants_exactly_the_operators_rules(render: Render) -> None:
    manifests = render()
    role = the_one(manifests, "ClusterRole", "chargeplane-operator")
    assert _rule_set(role["rules"]) == _rule_set(RULES)
    binding = the_one(manifests, "ClusterRoleBinding", "chargeplane-operator")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "chargeplane-operator", "namespace": NAMESPACE}]


def test_the_operator_runs_alone_with_a_liveness_probe_on_the_port_it_serves(render: Render,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    spec = the_one(render(sets=("operator.livenessPort=9811",)), "Deployment", "chargeplane-operator")["spec"]
    assert (spec["replicas"], spec["strategy"]["type"]) == (1, "Recreate")
    pod = spec["template"]["spec"]
    operator = pod["containers"][0]
    assert operator["command"] == ["python", "-m", "chargeplane.operator"] and "args" not in operator
    probe_port = next(p["containerPort"] for p in operator["ports"] if p["name"] == operator["livenessProbe"]
                      ["httpGet"]["port"])
    served = settings_from({e["name"]: e["value"] for e in operator["env"] if "value" in e}, monkeypatch).liveness_port
    assert probe_port == served == 9811
    assert [c["command"] for c in pod["initContainers"]] == [["chargeplane", "migrate"]]
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_the_gateway_node_port_selects_the_operators_gateway_pods(render: Render) -> None:
    service = the_one(render(CHART / "ci" / "kind-values.yaml"), "Service", "chargeplane-gateway-nodeport")
    assert service["spec"]["selector"] == {LABEL_SERVICE: "ocpp"}
    assert [port["targetPort"] for port in service["spec"]["ports"]] == [GATEWAY_STATION_PORT]  # the stations' only


def test_the_helm_test_registers_the_station_the_emulator_connects_as(render: Render) -> None:
    pod = the_one(render(), "Pod", "chargeplane-test-session")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    script = pod["spec"]["containers"][0]["command"][-1]
    assert "chargeplane station add HELM-TEST-0001 " in script
    gateway = f"{NAME_PREFIX}ocpp.{NAMESPACE}.svc:{GATEWAY_STATION_PORT}"
    assert f"chargeplane-emulator --url ws://{gateway}/ocpp --stations 1 --prefix HELM-TEST- " in script
