"""The official OCPP 1.6 JSON schemas (shipped by the `ocpp` package), compiled once.

jsonschema-rs validates a MeterValues payload in microseconds, where the `ocpp`
package's own validation path costs hundreds; the schemas are the same files.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import jsonschema_rs

from .protocol import ErrorCode, OcppError

# Which CALLERROR a failed JSON-schema keyword maps to (OCPP-J 1.6, section 4.2.3).
_KEYWORD_ERRORS = {
    "required": ErrorCode.PROTOCOL_ERROR,  # "payload for Action is incomplete"
    "type": ErrorCode.TYPE_CONSTRAINT_VIOLATION,
    "maxLength": ErrorCode.TYPE_CONSTRAINT_VIOLATION,  # CiStringNType is a data type
    "enum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "minimum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "maximum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "format": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "minItems": ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    "maxItems": ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    "additionalProperties": ErrorCode.FORMATION_VIOLATION,
}


@functools.cache
def schema(name: str) -> dict[str, Any]:
    """The schema of a request (`StartTransaction`) or reply (`StartTransactionResponse`)."""
    text = (resources.files("ocpp") / "v16" / "schemas" / f"{name}.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


# OCPP 1.6 integers are 32-bit (xs:int in its WSDL); the JSON schemas leave them unbounded.
INT32 = {"minimum": -(2**31), "maximum": 2**31 - 1}


def _bounded(node: Any) -> Any:
    """The schema with every integer bounded to 32 bits (a tighter bound it has stays): a
    larger one overflows the CSMS's columns, and an event no receiver can store would block
    the outbox behind it."""
    if isinstance(node, list):
        return [_bounded(item) for item in node]
    if not isinstance(node, dict):
        return node
    bounded = {key: _bounded(value) for key, value in node.items()}
    return {**INT32, **bounded} if node.get("type") == "integer" else bounded


@functools.cache
def validator(name: str) -> jsonschema_rs.Draft4Validator:
    # Timestamps are parsed by the handlers, which accept what stations in the field
    # send (a missing offset means UTC); every other keyword is enforced.
    return jsonschema_rs.Draft4Validator(_bounded(schema(name)), validate_formats=False)


def validate(name: str, payload: dict[str, Any]) -> None:
    """Raise the OcppError a station should get for the first schema violation."""
    compiled = validator(name)
    if compiled.is_valid(payload):
        return
    error = next(iter(compiled.iter_errors(payload)))
    keyword = str(list(error.schema_path)[-1]) if list(error.schema_path) else ""
    where = "/".join(str(p) for p in error.instance_path) or "(payload)"
    code = _KEYWORD_ERRORS.get(keyword, ErrorCode.FORMATION_VIOLATION)
    raise OcppError(code, f"{where}: {error.message}", {"path": where, "keyword": keyword})
