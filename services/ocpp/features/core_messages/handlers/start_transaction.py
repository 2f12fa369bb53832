from __future__ import annotations

from typing import Any

from chargeplane.common.tracing import current_traceparent
from chargeplane.services.ocpp.core.context import StationContext, timestamp
from chargeplane.services.ocpp.core.store import OpenTransaction, StartWrite


async def handle(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    connector_id = payload["connectorId"]
    started_at = timestamp(payload["timestamp"], "timestamp")
    # This span starts the session's trace: later messages of the session join it.
    traceparent = current_traceparent()
    transaction_id = await ctx.store.start_transaction(StartWrite(
        ctx.station_id, connector_id, payload["idTag"], payload["meterStart"], started_at,
        payload.get("reservationId"), traceparent,
    ))
    ctx.open_transactions[connector_id] = OpenTransaction(connector_id, transaction_id, traceparent)
    # OCPP 1.6: the transaction exists whatever the tag's status; a station told
    # Blocked/Invalid stops it itself.
    return {"transactionId": transaction_id, "idTagInfo": await ctx.auth.id_tag_info(payload["idTag"])}
