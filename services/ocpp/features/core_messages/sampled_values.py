"""Sampled values as numbers. OCPP 1.6: a Raw sampled value is a decimal number; ours must
also fit telemetry's column and, as Wh, the connector's bigint register. A value that is
none of that is the station's error, never the CSMS's ("retry later"), and must not reach
telemetry, which could not store it (nor, then, its valid neighbours)."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from chargeplane.services.ocpp.core.context import timestamp
from chargeplane.services.ocpp.core.protocol import ErrorCode, OcppError

ENERGY_REGISTER = "Energy.Active.Import.Register"
MAX_MAGNITUDE = Decimal(10) ** 15  # in kWh, still well inside a bigint of Wh
MAX_DECIMALS = 30
# What stations send nearly always: a plain decimal inside both bounds, checked without a Decimal
PLAIN_DECIMAL = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,30})?")


def _is_number(value: dict[str, Any]) -> bool:
    text = value["value"]
    return PLAIN_DECIMAL.fullmatch(text) is not None or _number(value) is not None


def _number(value: dict[str, Any]) -> Decimal | None:
    """The value as a number; None when it is none we can keep."""
    try:
        number = Decimal(value["value"])
    except InvalidOperation:
        return None
    exponent = number.as_tuple().exponent  # a letter for NaN and infinities
    if not isinstance(exponent, int) or exponent < -MAX_DECIMALS or abs(number) >= MAX_MAGNITUDE:
        return None
    return number


def _is_signed(value: dict[str, Any]) -> bool:
    return value.get("format") == "SignedData"  # a signed blob is not a number; the frame log keeps it


def check_numbers(meter_value: list[dict[str, Any]], field: str) -> None:
    """Raise PropertyConstraintViolation for the first Raw sampled value that is no number."""
    for i, sample in enumerate(meter_value):
        for j, value in enumerate(sample["sampledValue"]):
            if not _is_signed(value) and not _is_number(value):
                path = f"{field}/{i}/sampledValue/{j}/value"
                raise OcppError(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
                                f"{path}: {value['value'][:40]!r} is not a decimal number below 10^15",
                                {"path": path})


def only_numbers(meter_value: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The meter values without the Raw sampled values that are no numbers."""
    kept = []
    for sample in meter_value:
        values = [value for value in sample["sampledValue"] if _is_signed(value) or _is_number(value)]
        if values:
            kept.append({**sample, "sampledValue": values})
    return kept


def latest_energy_wh(meter_value: list[dict[str, Any]]) -> tuple[int, datetime] | None:
    """The newest Energy.Active.Import.Register reading in Wh (the default measurand)."""
    latest: tuple[int, datetime] | None = None
    for sample in meter_value:
        at = timestamp(sample["timestamp"], "meterValue/timestamp")
        for value in sample["sampledValue"]:
            if value.get("measurand", ENERGY_REGISTER) != ENERGY_REGISTER or _is_signed(value):
                continue
            if (reading := _number(value)) is None:
                continue
            wh = round(reading * 1000) if value.get("unit") == "kWh" else round(reading)
            if latest is None or at >= latest[1]:
                latest = (wh, at)
    return latest
