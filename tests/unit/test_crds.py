"""The CRDs read as files, without a server: valid CRDs of the shape we promise (names, scope,
structural schemas, standard conditions, printer columns). The real API server creates them
and refuses bad resources with their rules in tests/kubernetes/test_admission.py."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from chargeplane.common.station_ids import STATION_ID_MAX_LENGTH, STATION_ID_PATTERN
from chargeplane.operator.constants import GROUP, PLATFORMS, STATIONS, TARIFFS, VERSION

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES_VERSION = "1.31"
# Short names the built-in resources already use (kubectl api-resources on a current cluster).
BUILTIN_SHORT_NAMES = {
    "cm", "cs", "csr", "deploy", "ds", "ep", "ev", "hpa", "ing", "limits", "netpol", "no", "ns", "pc", "pdb",
    "po", "psp", "pv", "pvc", "quota", "rc", "rs", "sa", "sc", "sts", "svc", "crd", "crds", "ingclass", "vac",
}
# Keywords a structural schema may not use (Kubernetes: "Specifying a structural schema").
FORBIDDEN_KEYWORDS = {"$ref", "definitions", "dependencies", "additionalItems", "patternProperties", "id"}


def load_yaml(path: Path) -> list[dict[str, Any]]:
    with path.open() as stream:
        return list(yaml.safe_load_all(stream))


def crd(plural: str) -> dict[str, Any]:
    (document,) = load_yaml(ROOT / "crds" / f"{plural}.{GROUP}.yaml")
    return document


def schema_of(plural: str) -> dict[str, Any]:
    (version,) = crd(plural)["spec"]["versions"]
    return dict(version["schema"]["openAPIV3Schema"])


def examples() -> list[dict[str, Any]]:
    return [document for path in sorted((ROOT / "examples").glob("*.yaml")) for document in load_yaml(path)]


def example(kind: str) -> dict[str, Any]:
    return copy.deepcopy(next(document for document in examples() if document["kind"] == kind))


# ----- the CRDs themselves ----------------------------------------------------------------------

@pytest.mark.parametrize("plural", [STATIONS, TARIFFS])
def test_each_crd_is_a_valid_namespaced_v1alpha1_custom_resource_definition(plural: str) -> None:
    definition = crd(plural)
    kubernetes_validate.validate(definition, KUBERNETES_VERSION, strict=True)
    spec = definition["spec"]
    assert (spec["group"], spec["scope"], spec["names"]["plural"]) == (GROUP, "Namespaced", plural)
    assert definition["metadata"]["name"] == f"{plural}.{GROUP}"
    (version,) = spec["versions"]
    assert version["name"] == VERSION and version["subresources"] == {"status": {}}
    assert spec["names"]["categories"] == ["chargeplane"]
    assert not set(spec["names"]["shortNames"]) & BUILTIN_SHORT_NAMES


def _schema_nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _schema_nodes(sub, f"{path}.{name}")
    if "items" in schema:
        yield from _schema_nodes(schema["items"], f"{path}[]")


@pytest.mark.parametrize("plural", [STATIONS, TARIFFS])
def test_each_schema_is_structural(plural: str) -> None:
    for path, node in _schema_nodes(schema_of(plural)):
        assert node.get("type") in {"object", "array", "string", "integer", "number", "boolean"}, path
        assert not FORBIDDEN_KEYWORDS & set(node), path
        assert ("items" in node) == (node["type"] == "array"), path
        assert "properties" not in node or node["type"] == "object", path
        assert "additionalProperties" not in node or "properties" not in node, path
        for key in node.get("x-kubernetes-list-map-keys", []):
            assert key in node["items"]["required"], f"{path}: a list-map key must be required"


@pytest.mark.parametrize("plural", [STATIONS, TARIFFS])
def test_status_has_standard_conditions_and_observed_generation(plural: str) -> None:
    status = schema_of(plural)["properties"]["status"]["properties"]
    condition = status["conditions"]["items"]
    assert set(condition["required"]) == {"type", "status", "lastTransitionTime", "reason", "message"}
    assert "observedGeneration" in condition["properties"] and "observedGeneration" in status
    assert status["conditions"]["x-kubernetes-list-type"] == "map"


@pytest.mark.parametrize(("plural", "columns"), [
    (STATIONS, ["Station", "Status", "Connectors", "Last-Heartbeat", "Tariff", "Simulator", "Ready", "Age"]),
    (TARIFFS, ["Currency", "Per-kWh", "Synced", "Ready", "Age"]),
    (PLATFORMS, ["Version", "Stations", "Gateways", "Ready", "Age"]),
])
def test_printer_columns_show_fields_the_schema_has(plural: str, columns: list[str]) -> None:
    (version,) = crd(plural)["spec"]["versions"]
    printed = version["additionalPrinterColumns"]
    assert [column["name"] for column in printed] == columns
    schema = schema_of(plural)
    for column in printed:
        path = column["jsonPath"].split("[")[0].strip(".").split(".")
        if path[0] == "metadata":
            continue
        node = schema
        for part in path:
            node = node["properties"][part]
        assert node["type"] in {"string", "boolean", "array", "integer"}, column


def test_the_builders_fall_back_to_the_schema_defaults() -> None:
    from chargeplane.operator.builders import DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_SIMULATOR

    spec = schema_of(STATIONS)["properties"]["spec"]["properties"]
    assert spec["heartbeatIntervalSeconds"]["default"] == DEFAULT_HEARTBEAT_INTERVAL
    simulator = spec["simulator"]["properties"]
    assert {name: simulator[name]["default"] for name in DEFAULT_SIMULATOR} == DEFAULT_SIMULATOR


# Admission itself (schemas, enums, CEL rules, the immutable stationId) is tested against the real
# kube-apiserver in tests/kubernetes/test_admission.py.

def test_a_station_id_is_admitted_by_the_gateways_rule_and_no_other() -> None:
    """The CRD cannot import common/station_ids.py, so it repeats the rule and this keeps them equal:
    a ChargingStation is admitted exactly when the gateway would let its station connect."""
    station_id = schema_of(STATIONS)["properties"]["spec"]["properties"]["stationId"]
    assert (station_id["pattern"], station_id["maxLength"]) == (STATION_ID_PATTERN, STATION_ID_MAX_LENGTH)
