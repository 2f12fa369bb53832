from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog

from ..context import StationContext, timestamp
from ..store import MeterValuesWrite

log = structlog.get_logger(__name__)

ENERGY_REGISTER = "Energy.Active.Import.Register"


def latest_energy_wh(meter_value: list[dict[str, Any]]) -> tuple[int, datetime] | None:
    """The newest Energy.Active.Import.Register reading in Wh (the default measurand)."""
    latest: tuple[int, datetime] | None = None
    for sample in meter_value:
        at = timestamp(sample["timestamp"], "meterValue/timestamp")
        for value in sample["sampledValue"]:
            if value.get("measurand", ENERGY_REGISTER) != ENERGY_REGISTER or value.get("format") == "SignedData":
                continue
            try:
                reading = float(value["value"])
            except ValueError:
                continue
            wh = round(reading * 1000) if value.get("unit") == "kWh" else round(reading)
            if latest is None or at >= latest[1]:
                latest = (wh, at)
    return latest


async def handle(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    connector_id = payload["connectorId"]
    transaction_id = payload.get("transactionId")
    if transaction_id is None and connector_id in ctx.open_transactions:
        transaction_id = ctx.open_transactions[connector_id].transaction_id
    if transaction_id is None and connector_id != 0:
        log.info("meter values without session context", station_id=ctx.station_id, connector_id=connector_id)
    await ctx.store.meter_values(MeterValuesWrite(
        ctx.station_id, connector_id, transaction_id, payload["meterValue"],
        latest_energy_wh(payload["meterValue"]),
    ))
    return {}
