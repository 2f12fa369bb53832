from __future__ import annotations

from typing import Any

from chargeplane.common.timeutil import format_ocpp, utcnow
from chargeplane.services.ocpp.core.context import StationContext


async def handle(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    now = utcnow()
    await ctx.store.record_heartbeat(ctx.station_id, now)
    return {"currentTime": format_ocpp(now)}
