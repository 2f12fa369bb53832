"""The CRDs as the API server sees them: valid CRDs with structural schemas, and what
admission accepts and rejects, checked with a JSON-schema validator and a CEL evaluator
(kmock has no admission, so this is where bad specs are shown to be refused)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import kubernetes_validate
import pytest
import yaml

from chargeplane.common.station_ids import STATION_ID_MAX_LENGTH, STATION_ID_PATTERN
from chargeplane.operator.constants import GROUP, STATIONS, TARIFFS, VERSION

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


# ----- the admission side: OpenAPI v3 schema and CEL rules ------------------------------------

def _as_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI's `nullable` as JSON Schema's null type; the rest of an OpenAPI v3.0 schema
    reads as draft 4 (boolean exclusiveMinimum/Maximum)."""
    converted = {key: _as_json_schema(value) if isinstance(value, dict) else value for key, value in schema.items()}
    if "properties" in schema:
        converted["properties"] = {name: _as_json_schema(sub) for name, sub in schema["properties"].items()}
    if converted.pop("nullable", False):
        converted["type"] = [converted["type"], "null"]
    return converted


FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


@FORMATS.checks("date", raises=ValueError)
def _date(value: object) -> bool:
    return not isinstance(value, str) or bool(date.fromisoformat(value))


def _typed(value: Any, schema: dict[str, Any]) -> Any:
    """JSON as the API server hands it to CEL: `number` fields are doubles even when written 5."""
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        return {key: _typed(item, properties.get(key, {})) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item, schema.get("items", {})) for item in value]
    if schema.get("type") == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _cel(rule: str, **variables: Any) -> bool:
    environment = celpy.Environment()
    program = environment.program(environment.compile(rule))
    return bool(program.evaluate({name: celpy.json_to_cel(value) for name, value in variables.items()}))


def _cel_violations(schema: dict[str, Any], value: Any, old: Any = None) -> Iterator[str]:
    """Messages of the x-kubernetes-validations rules that fail anywhere in `value`; transition
    rules (those using oldSelf) only where an old value exists, as on an update."""
    for validation in schema.get("x-kubernetes-validations", []):
        transition = "oldSelf" in validation["rule"]
        if transition and old is None:
            continue
        variables = {"self": _typed(value, schema)} | ({"oldSelf": _typed(old, schema)} if transition else {})
        if not _cel(validation["rule"], **variables):
            yield validation["message"]
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                yield from _cel_violations(sub, value[name], old.get(name) if isinstance(old, dict) else None)
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            yield from _cel_violations(schema["items"], item)


def admission_errors(resource: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    """What the API server would refuse `resource` for (as an update of `old`, if given)."""
    schema = schema_of(STATIONS if resource["kind"] == "ChargingStation" else TARIFFS)
    validator = jsonschema.Draft4Validator(_as_json_schema(schema), format_checker=FORMATS)
    errors = [error.message for error in validator.iter_errors(resource)]
    return errors or list(_cel_violations(schema, resource, old))


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
        if "default" in node:
            assert jsonschema.Draft4Validator(_as_json_schema(node)).is_valid(node["default"]), path


@pytest.mark.parametrize("plural", [STATIONS, TARIFFS])
def test_status_has_standard_conditions_and_observed_generation(plural: str) -> None:
    status = schema_of(plural)["properties"]["status"]["properties"]
    condition = status["conditions"]["items"]
    assert set(condition["required"]) == {"type", "status", "lastTransitionTime", "reason", "message"}
    assert "observedGeneration" in condition["properties"] and "observedGeneration" in status
    assert status["conditions"]["x-kubernetes-list-type"] == "map"


@pytest.mark.parametrize(("plural", "columns"), [
    (STATIONS, ["Station", "Status", "Connectors", "Last-Heartbeat", "Tariff", "Simulator", "Age"]),
    (TARIFFS, ["Currency", "Per-kWh", "Synced", "Age"]),
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
        assert node["type"] in {"string", "boolean", "array"}, column


def test_the_builders_fall_back_to_the_schema_defaults() -> None:
    from chargeplane.operator.builders import DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_SIMULATOR

    spec = schema_of(STATIONS)["properties"]["spec"]["properties"]
    assert spec["heartbeatIntervalSeconds"]["default"] == DEFAULT_HEARTBEAT_INTERVAL
    simulator = spec["simulator"]["properties"]
    assert {name: simulator[name]["default"] for name in DEFAULT_SIMULATOR} == DEFAULT_SIMULATOR


# ----- admission: the examples pass, bad specs are refused ---------------------------------------

def test_every_example_is_admitted() -> None:
    assert {document["kind"] for document in examples()} == {"ChargingStation", "Tariff"}
    for document in examples():
        assert document["apiVersion"] == f"{GROUP}/{VERSION}"
        assert admission_errors(document) == [], document["metadata"]["name"]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change at a dotted path (numbers index lists); value DELETE removes the field."""
    def change(resource: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = resource
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value == "DELETE":
            del node[last]
        else:
            node[int(last) if last.isdigit() else last] = value
    return change


REJECTED = [
    ("ChargingStation", "spec.stationId", "CP/1", "does not match"),
    ("ChargingStation", "spec.stationId", "X" * 49, "is too long"),
    ("ChargingStation", "spec.tariffRef", "DELETE", "'tariffRef' is a required property"),
    ("ChargingStation", "spec.heartbeatIntervalSeconds", 5, "less than the minimum"),
    ("ChargingStation", "spec.registrationStatus", "Maybe", "is not one of"),
    ("ChargingStation", "spec.connectors.1.id", 1, "connector ids must be 1 to N, each once"),
    ("ChargingStation", "spec.connectors.1.id", 3, "connector ids must be 1 to N, each once"),
    ("ChargingStation", "spec.connectors.0.type", "Type9", "is not one of"),
    ("ChargingStation", "spec.connectors.0.maxPowerKw", 0, "less than or equal to the minimum"),
    ("ChargingStation", "spec.simulator.powerKw", 0, "less than or equal to the minimum"),
    ("ChargingStation", "spec.simulator.sessions", -1, "less than the minimum"),
    ("ChargingStation", "spec.vendor", "V" * 21, "is too long"),
    ("ChargingStation", "spec.chargingLimit", {"maxPowerW": 0}, "less than the minimum"),
    ("ChargingStation", "spec.chargingLimit", {}, "'maxPowerW' is a required property"),
    ("Tariff", "spec.currency", "eur", "does not match"),
    ("Tariff", "spec.taxRate", 1, "greater than or equal to the maximum"),
    ("Tariff", "spec.elements", [], "should be non-empty"),
    ("Tariff", "spec.elements.0.priceComponents.0.type", "KWH", "is not one of"),
    ("Tariff", "spec.elements.0.priceComponents.0.price", -0.1, "less than the minimum"),
    ("Tariff", "spec.elements.0.priceComponents.1.type", "ENERGY", "an element prices each dimension at most once"),
    ("Tariff", "spec.elements.1.priceComponents.2.stepSize", 0, "less than the minimum"),
    ("Tariff", "spec.elements.0.restrictions.startTime", "25:00", "does not match"),
    ("Tariff", "spec.elements.0.restrictions.dayOfWeek", ["FUNDAY"], "is not one of"),
    ("Tariff", "spec.elements.0.restrictions.minKwh", 5, "minKwh must not exceed maxKwh"),
    ("Tariff", "spec.validFrom", "2027-01-01T00:00:00Z", "validFrom must be before validTo"),
    ("Tariff", "spec.validTo", "next week", "is not a 'date-time'"),
]


@pytest.mark.parametrize(("kind", "path", "value", "message"), REJECTED,
                         ids=[f"{kind}:{path}={value!r}"[:60] for kind, path, value, _ in REJECTED])
def test_admission_refuses_a_bad_spec(kind: str, path: str, value: Any, message: str) -> None:
    resource = example(kind)
    if path.startswith("spec.elements.0.restrictions.minKwh"):
        resource["spec"]["elements"][0]["restrictions"]["maxKwh"] = 2.5
    if path == "spec.validFrom":
        resource["spec"]["validTo"] = "2026-12-31T23:00:00+01:00"
    _set(path, value)(resource)
    errors = admission_errors(resource)
    assert any(message in error for error in errors), errors


def test_a_station_id_cannot_change_but_the_rest_of_the_spec_can() -> None:
    old = example("ChargingStation")
    renamed = example("ChargingStation")
    renamed["spec"]["stationId"] = "DEPOT-99"
    assert admission_errors(renamed, old=old) == [
        "stationId is immutable; create another ChargingStation for another station"]
    retuned = example("ChargingStation")
    retuned["spec"]["heartbeatIntervalSeconds"] = 120
    assert admission_errors(retuned, old=old) == []


def test_a_station_id_is_admitted_by_the_gateways_rule_and_no_other() -> None:
    """The CRD cannot import common/station_ids.py, so it repeats the rule and this keeps them equal:
    a ChargingStation is admitted exactly when the gateway would let its station connect."""
    station_id = schema_of(STATIONS)["properties"]["spec"]["properties"]["stationId"]
    assert (station_id["pattern"], station_id["maxLength"]) == (STATION_ID_PATTERN, STATION_ID_MAX_LENGTH)
    station = example("ChargingStation")
    station["spec"]["stationId"] = "depot:CP+1|bay=2@site*A_b.c"
    assert admission_errors(station) == []


def test_a_validity_window_in_order_is_admitted() -> None:
    tariff = example("Tariff")
    tariff["spec"] |= {"validFrom": "2026-01-01T00:00:00Z", "validTo": "2027-01-01T00:00:00+01:00"}
    assert admission_errors(tariff) == []
