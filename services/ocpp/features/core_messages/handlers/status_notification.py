from __future__ import annotations

from typing import Any

from chargeplane.common.timeutil import utcnow
from chargeplane.services.ocpp.core.context import StationContext, timestamp


async def handle(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    at = timestamp(payload["timestamp"], "timestamp") if "timestamp" in payload else utcnow()
    await ctx.store.record_status(ctx.station_id, payload, at)
    return {}
