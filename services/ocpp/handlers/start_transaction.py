from __future__ import annotations

from typing import Any

from chargeplane.common.tracing import current_traceparent

from ..context import StationContext, timestamp
from ..store import OpenTransaction, StartWrite


async def handle(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    connector_id = payload["connectorId"]
    started_at = timestamp(payload["timestamp"], "timestamp")
    # This span starts the session's trace: later messages of the session join it.
    traceparent = current_traceparent()
    started = await ctx.store.start_transaction(StartWrite(
        ctx.station_id, connector_id, payload["idTag"], payload["meterStart"], started_at,
        payload.get("reservationId"), traceparent,
    ))
    ctx.open_transactions[connector_id] = OpenTransaction(connector_id, started.transaction_id, traceparent)
    if started.site_id is not None:
        ctx.site_changed(started.site_id)  # its limit is divided again, later
    # OCPP 1.6: the transaction exists whatever the tag's status; a station told
    # Blocked/Invalid stops it itself.
    return {"transactionId": started.transaction_id, "idTagInfo": await ctx.auth.id_tag_info(payload["idTag"])}
