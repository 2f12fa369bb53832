"""The one station id rule (common/station_ids.py) and its readers: Python's re, pydantic (request
bodies), the public API's OpenAPI document (test_api_gateway_paths.py: the api-gateway's check) and
`chargeplane station add`."""

from __future__ import annotations

import jsonschema_rs
import pytest
from pydantic import TypeAdapter, ValidationError

from chargeplane.cli import build_parser
from chargeplane.common.station_ids import STATION_ID_PATTERN, StationId, is_valid_station_id
from chargeplane.services.api_gateway.routes import openapi_document

VALID = ["CP-1", "EMU-0001", "a.b:c+d|e@f*g=h_i", "x" * 48]
INVALID = ["", "x" * 49, "../x", "a'--", "CP 1", "CP\n", "ΣΤΑΘΜΟΣ", "a/b", "%2F"]


@pytest.mark.parametrize("station_id", VALID)
def test_ocpp_identifier_strings_are_station_ids(station_id: str) -> None:
    assert is_valid_station_id(station_id)


@pytest.mark.parametrize("station_id", INVALID)
def test_anything_else_is_not(station_id: str) -> None:
    assert not is_valid_station_id(station_id)


@pytest.mark.parametrize("station_id", VALID + INVALID)
def test_a_request_body_and_the_openapi_document_read_the_rule_alike(station_id: str) -> None:
    """The same pattern text through pydantic's and a JSON Schema validator's regex engines."""
    try:
        TypeAdapter(StationId).validate_python(station_id)
        in_body = True
    except ValidationError:
        in_body = False
    (parameter,) = openapi_document()["paths"]["/api/v1/stations/{station_id}"]["get"]["parameters"]
    assert parameter["schema"]["pattern"] == STATION_ID_PATTERN
    in_path = jsonschema_rs.validator_for(parameter["schema"]).is_valid(station_id)
    assert in_body == in_path == is_valid_station_id(station_id)


def test_the_command_line_registers_no_station_that_could_never_connect() -> None:
    args = build_parser().parse_args(["station", "add", "CP-1", "CP 1", "a/b",
                                      "--database-url", "postgresql://nobody@127.0.0.1:1/none"])
    with pytest.raises(SystemExit, match=r"a station id is 1 to 48 .*: not 'CP 1', 'a/b'"):
        args.func(args)
