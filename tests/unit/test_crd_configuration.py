"""ChargingStation spec.configuration as admission sees it (schema and CEL rules)."""

from __future__ import annotations

import pytest

from .test_crds import admission_errors, example


def station_with(configuration: object) -> dict[str, object]:
    station = example("ChargingStation")
    station["spec"]["configuration"] = configuration
    return station


def test_configuration_keys_with_string_values_are_admitted() -> None:
    assert admission_errors(station_with({"MeterValueSampleInterval": "30", "LocalAuthListEnabled": "true"})) == []


@pytest.mark.parametrize(("configuration", "message"), [
    ({"AuthorizationKey": "0123456789abcdef"}, "AuthorizationKey is write-only"),
    ({"HeartbeatInterval": "60"}, "HeartbeatInterval is set by heartbeatIntervalSeconds"),
    ({"K" * 51: "1"}, "an OCPP configuration key has 1 to 50 characters"),
    ({"MeterValueSampleInterval": 30}, "is not of type 'string'"),
    ({"MeterValueSampleInterval": "9" * 501}, "is too long"),
    ({f"Key{i}": "1" for i in range(201)}, "has too many properties"),
])
def test_admission_refuses_configuration_the_gateway_cannot_enforce(configuration: object, message: str) -> None:
    errors = admission_errors(station_with(configuration))
    assert any(message in error for error in errors), errors
