from __future__ import annotations

import functools
from typing import Any

from chargeplane.common.timeutil import format_ocpp, utcnow
from chargeplane.common.tracing import current_traceparent

from ..context import StationContext


async def handle(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    now = utcnow()
    await ctx.store.record_boot(ctx.station_id, payload, now, current_traceparent())
    if ctx.open_transactions:  # the reboot ended them: their TxProfiles go, site limits are divided again
        ctx.open_transactions.clear()
        ctx.transactions_changed(ctx.station_id)
    if ctx.station.registration_status == "Accepted" and ctx.configuration is not None:
        ctx.after_reply.append(functools.partial(ctx.configuration.after_boot, ctx.station_id))
    return {
        "status": ctx.station.registration_status,
        "currentTime": format_ocpp(now),
        "interval": ctx.station.heartbeat_interval,
    }
