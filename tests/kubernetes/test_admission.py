"""What kube-apiserver itself refuses in a ChargingStation or Tariff: the CRDs' OpenAPI schemas
(types, patterns, bounds, enums, required fields) and their CEL rules (x-kubernetes-validations),
each answered with the CRD's own message; and that the examples and the chart's values are
admitted."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from chargeplane.operator.constants import GROUP, STATIONS, TARIFFS, VERSION

from .conftest import REPO, eventually

PLURALS = {"ChargingStation": STATIONS, "Tariff": TARIFFS}


def examples() -> list[dict[str, Any]]:
    return [doc for path in sorted((REPO / "examples").glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text())]


def example(kind: str) -> dict[str, Any]:
    return copy.deepcopy(next(doc for doc in examples() if doc["kind"] == kind))


@pytest.fixture(scope="module")
def crds_installed(api: client.ApiClient) -> None:
    """The CRDs of crds/, created as `kubectl apply -f crds/` would and Established."""
    extensions = client.ApiextensionsV1Api(api)
    for path in sorted((REPO / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        try:
            extensions.create_custom_resource_definition(crd)
        except ApiException as exc:
            if exc.status != 409:  # the chart's tests may have installed them first
                raise

    def established() -> bool:
        for path in sorted((REPO / "crds").glob("*.yaml")):
            name = yaml.safe_load(path.read_text())["metadata"]["name"]
            conditions = extensions.read_custom_resource_definition(name).status.conditions or []
            if not any(c.type == "Established" and c.status == "True" for c in conditions):
                return False
        return True

    eventually(established, within_s=30, what="the CRDs are Established")


def create(api: client.ApiClient, namespace: str, resource: dict[str, Any]) -> dict[str, Any]:
    return client.CustomObjectsApi(api).create_namespaced_custom_object(  # type: ignore[no-any-return]
        GROUP, VERSION, namespace, PLURALS[resource["kind"]], resource)


def refusal(api: client.ApiClient, namespace: str, resource: dict[str, Any]) -> str:
    """The API server's message refusing `resource` (the test fails if it is admitted)."""
    with pytest.raises(ApiException) as refused:
        create(api, namespace, resource)
    assert refused.value.status == 422, refused.value.body
    return str(json.loads(refused.value.body)["message"])


def changed(kind: str, path: str, value: Any) -> dict[str, Any]:
    """The example of `kind` with the value at a dotted path (numbers index lists) set, or
    removed when value is DELETE."""
    resource = example(kind)
    *parents, last = path.split(".")
    node: Any = resource
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value == "DELETE":
        del node[last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return resource


# (kind, dotted path, value, what the API server answers): every CEL rule, every enum, and the
# bounds and patterns a user is most likely to get wrong
REFUSED = [
    ("ChargingStation", "spec.stationId", "CP/1", "spec.stationId in body should match"),
    ("ChargingStation", "spec.stationId", "X" * 49, "spec.stationId: Too long"),
    ("ChargingStation", "spec.tariffRef", "DELETE", "spec.tariffRef: Required value"),
    ("ChargingStation", "spec.heartbeatIntervalSeconds", 5, "spec.heartbeatIntervalSeconds in body should be "
                                                            "greater than or equal to"),
    ("ChargingStation", "spec.registrationStatus", "Maybe", 'spec.registrationStatus: Unsupported value: "Maybe"'),
    ("ChargingStation", "spec.securityProfile", 4, "spec.securityProfile: Unsupported value: 4"),
    ("ChargingStation", "spec.connectors.1.id", 1, "connector ids must be 1 to N, each once"),
    ("ChargingStation", "spec.connectors.1.id", 3, "connector ids must be 1 to N, each once"),
    ("ChargingStation", "spec.connectors.0.type", "Type9", 'spec.connectors[0].type: Unsupported value: "Type9"'),
    ("ChargingStation", "spec.connectors.0.maxPowerKw", 0, "spec.connectors[0].maxPowerKw in body should be "
                                                           "greater than 0"),
    ("ChargingStation", "spec.vendor", "V" * 21, "spec.vendor: Too long"),
    ("ChargingStation", "spec.chargingLimit", {}, "spec.chargingLimit.maxPowerW: Required value"),
    ("ChargingStation", "spec.configuration", {"AuthorizationKey": "0123456789abcdef"},
     "AuthorizationKey is write-only and not configuration"),
    ("ChargingStation", "spec.configuration", {"K" * 51: "1"}, "an OCPP configuration key has 1 to 50 characters"),
    ("ChargingStation", "spec.configuration", {"HeartbeatInterval": "60"},
     "HeartbeatInterval is set by heartbeatIntervalSeconds"),
    ("ChargingStation", "spec.configuration", {"MeterValueSampleInterval": 30},
     'spec.configuration.MeterValueSampleInterval: Invalid value: "integer": spec.configuration.'
     'MeterValueSampleInterval in body must be of type string'),
    ("ChargingStation", "spec.configuration", {"MeterValueSampleInterval": "9" * 501},
     "spec.configuration.MeterValueSampleInterval: Too long"),
    ("ChargingStation", "spec.configuration", {f"Key{i}": "1" for i in range(201)},
     "spec.configuration: Too many"),
    ("Tariff", "spec.currency", "eur", "spec.currency in body should match"),
    ("Tariff", "spec.taxRate", 1, "spec.taxRate in body should be less than 1"),
    ("Tariff", "spec.elements", [], "spec.elements in body should have at least 1 items"),
    ("Tariff", "spec.elements.0.priceComponents.0.type", "KWH",
     'spec.elements[0].priceComponents[0].type: Unsupported value: "KWH"'),
    ("Tariff", "spec.elements.0.priceComponents.1.type", "ENERGY", "an element prices each dimension at most once"),
    ("Tariff", "spec.elements.0.restrictions.startTime", "25:00", "spec.elements[0].restrictions.startTime in body "
                                                                  "should match"),
    ("Tariff", "spec.elements.0.restrictions.dayOfWeek", ["FUNDAY"],
     'spec.elements[0].restrictions.dayOfWeek[0]: Unsupported value: "FUNDAY"'),
    ("Tariff", "spec.elements.0.restrictions.minKwh", 5, "minKwh must not exceed maxKwh"),
    ("Tariff", "spec.elements.0.restrictions.minDuration", 7200, "minDuration must not exceed maxDuration"),
    ("Tariff", "spec.validFrom", "2027-01-01T00:00:00Z", "validFrom must be before validTo"),
    ("Tariff", "spec.validTo", "next week", "spec.validTo in body must be of type date-time"),
]


def _prepared(kind: str, path: str, value: Any) -> dict[str, Any]:
    resource = changed(kind, path, value)
    # the pair rules need the other half of the pair
    if path.endswith("restrictions.minKwh"):
        resource["spec"]["elements"][0]["restrictions"]["maxKwh"] = 2.5
    if path.endswith("restrictions.minDuration"):
        resource["spec"]["elements"][0]["restrictions"]["maxDuration"] = 3600
    if path == "spec.validFrom":
        resource["spec"]["validTo"] = "2026-12-31T23:00:00+01:00"
    return resource


@pytest.mark.parametrize(("kind", "path", "value", "message"), REFUSED,
                         ids=[f"{kind}:{path}={value!r}"[:70] for kind, path, value, _ in REFUSED])
def test_the_api_server_refuses_a_bad_spec_with_the_crds_message(
    api: client.ApiClient, crds_installed: None, namespace: str, kind: str, path: str, value: Any, message: str,
) -> None:
    assert message in refusal(api, namespace, _prepared(kind, path, value))


def test_the_examples_are_admitted_and_a_station_id_cannot_change(api: client.ApiClient, crds_installed: None,
                                                                  namespace: str) -> None:
    for resource in examples():
        create(api, namespace, resource)
    objects = client.CustomObjectsApi(api)
    with pytest.raises(ApiException) as refused:
        objects.patch_namespaced_custom_object(GROUP, VERSION, namespace, STATIONS, "depot-01",
                                               {"spec": {"stationId": "DEPOT-99"}})
    assert refused.value.status == 422
    assert "stationId is immutable; create another ChargingStation for another station" in json.loads(
        refused.value.body)["message"]
    # the rest of the spec may change
    objects.patch_namespaced_custom_object(GROUP, VERSION, namespace, STATIONS, "depot-01",
                                           {"spec": {"heartbeatIntervalSeconds": 120}})


def test_a_station_id_of_every_allowed_character_and_a_validity_window_in_order_are_admitted(
    api: client.ApiClient, crds_installed: None, namespace: str,
) -> None:
    station = changed("ChargingStation", "spec.stationId", "depot:CP+1|bay=2@site*A_b.c")
    create(api, namespace, station)
    tariff = example("Tariff")
    tariff["spec"] |= {"validFrom": "2026-01-01T00:00:00Z", "validTo": "2027-01-01T00:00:00+01:00"}
    create(api, namespace, tariff)


def test_unknown_fields_are_refused_by_strict_field_validation(api: client.ApiClient, crds_installed: None,
                                                               namespace: str) -> None:
    """As kubectl sends them (fieldValidation=Strict): a misspelt field is an error, not dropped."""
    station = changed("ChargingStation", "spec.heartbeatIntervalSecond", 60)
    with pytest.raises(ApiException) as refused:
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            GROUP, VERSION, namespace, STATIONS, station, field_validation="Strict")
    assert refused.value.status == 400
    assert 'unknown field "spec.heartbeatIntervalSecond"' in json.loads(refused.value.body)["message"]

