from __future__ import annotations

from typing import Any

from chargeplane.common.tracing import current_traceparent

from ..context import StationContext, timestamp
from ..store import StopWrite


async def handle(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    transaction_id = payload["transactionId"]
    # OCPP 1.6: a StopTransaction is accepted even for a transaction we do not know,
    # and whatever its timestamp; the sessions service records what it can.
    await ctx.store.stop_transaction(StopWrite(
        ctx.station_id, transaction_id, payload["meterStop"], timestamp(payload["timestamp"], "timestamp"),
        payload.get("reason"), payload.get("idTag"), payload.get("transactionData") or [],
        current_traceparent(),
    ))
    finished = ctx.transaction(transaction_id)
    if finished is not None:
        ctx.open_transactions.pop(finished.connector_id, None)
    ctx.transactions_changed(ctx.station_id)  # its TxProfiles go, site limits are divided again, later
    return {"idTagInfo": await ctx.auth.id_tag_info(payload["idTag"])} if "idTag" in payload else {}
