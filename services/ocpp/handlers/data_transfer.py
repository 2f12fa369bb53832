from __future__ import annotations

from typing import Any

import structlog

from ..context import StationContext

log = structlog.get_logger(__name__)


async def handle(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    # No vendor extensions are registered yet: OCPP's answer for that is UnknownVendorId.
    log.info("data transfer from station", station_id=ctx.station_id, vendor_id=payload["vendorId"],
             message_id=payload.get("messageId"))
    return {"status": "UnknownVendorId"}
