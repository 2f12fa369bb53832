"""SecurityEventNotification: a station reports a security event; stored, listed per station."""

from __future__ import annotations

from typing import Any

import structlog

from chargeplane.services.ocpp.core.context import StationContext, timestamp

from ..station_security import SECURITY

log = structlog.get_logger(__name__)


async def handle(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    occurred_at = timestamp(payload["timestamp"], "timestamp")
    await ctx.app[SECURITY].repository.record_event(ctx.station_id, payload["type"], payload.get("techInfo"),
                                                    occurred_at)
    log.info("station security event", station_id=ctx.station_id, type=payload["type"])
    return {}
