from __future__ import annotations

from typing import Any

import structlog

from chargeplane.common.tracing import current_traceparent
from chargeplane.services.ocpp.core.context import StationContext, timestamp
from chargeplane.services.ocpp.core.store import StopWrite

from ..sampled_values import latest_energy_wh, only_numbers

log = structlog.get_logger(__name__)


async def handle(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    transaction_id = payload["transactionId"]
    sent = payload.get("transactionData") or []
    # A stop refused for a bad reading would leave its session open: the reading goes instead.
    if (transaction_data := only_numbers(sent)) != sent:
        log.warning("sampled values that are no numbers dropped", station_id=ctx.station_id,
                    transaction_id=transaction_id)
    end_reading = latest_energy_wh(transaction_data)
    # OCPP 1.6: a StopTransaction is accepted even for a transaction we do not know,
    # and whatever its timestamp; the sessions service records what it can.
    await ctx.store.stop_transaction(StopWrite(
        ctx.station_id, transaction_id, payload["meterStop"], timestamp(payload["timestamp"], "timestamp"),
        payload.get("reason"), payload.get("idTag"), transaction_data, end_reading[1] if end_reading else None,
        current_traceparent(),
    ))
    finished = ctx.transaction(transaction_id)
    if finished is not None:
        ctx.open_transactions.pop(finished.connector_id, None)
    return {"idTagInfo": await ctx.auth.id_tag_info(payload["idTag"])} if "idTag" in payload else {}
