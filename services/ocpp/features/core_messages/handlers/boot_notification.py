from __future__ import annotations

import functools
from typing import Any

from chargeplane.common.timeutil import format_ocpp, utcnow
from chargeplane.common.tracing import current_traceparent
from chargeplane.services.ocpp.core.context import StationContext


async def handle(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    now = utcnow()
    await ctx.store.record_boot(ctx.station_id, payload, now, current_traceparent())
    ctx.open_transactions.clear()  # the reboot ended them (the store told the features that follow them)
    if ctx.station.registration_status == "Accepted":
        ctx.after_reply.extend(functools.partial(hook, ctx.station_id) for hook in ctx.on_boot)
    return {
        "status": ctx.station.registration_status,
        "currentTime": format_ocpp(now),
        "interval": ctx.station.heartbeat_interval,
    }
