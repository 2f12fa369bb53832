"""DataTransfer from a station: answered from the vendor registry (`vendors`)."""

from __future__ import annotations

from typing import Any

import structlog

from chargeplane.services.ocpp.core.context import StationContext

from ..vendors import answer

log = structlog.get_logger(__name__)


async def handle(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    reply = await answer(ctx, payload)
    log.info("data transfer from station", station_id=ctx.station_id, vendor_id=payload["vendorId"],
             message_id=payload.get("messageId"), status=reply["status"])
    return reply
