from __future__ import annotations

from typing import Any

import structlog

from chargeplane.services.ocpp.core.context import StationContext
from chargeplane.services.ocpp.core.store import MeterValuesWrite

from ..sampled_values import check_numbers, latest_energy_wh

log = structlog.get_logger(__name__)


async def handle(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    connector_id = payload["connectorId"]
    transaction_id = payload.get("transactionId")
    check_numbers(payload["meterValue"], "meterValue")
    if transaction_id is None and connector_id in ctx.open_transactions:
        transaction_id = ctx.open_transactions[connector_id].transaction_id
    if transaction_id is None and connector_id != 0:
        log.info("meter values without session context", station_id=ctx.station_id, connector_id=connector_id)
    await ctx.store.meter_values(MeterValuesWrite(
        ctx.station_id, connector_id, transaction_id, payload["meterValue"],
        latest_energy_wh(payload["meterValue"]),
    ))
    return {}
