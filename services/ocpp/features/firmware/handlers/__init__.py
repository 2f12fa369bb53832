"""One module per Firmware Management notification a station sends (and the security
extension's two): each is kept in the station's history (`GET /stations/{id}/maintenance`)."""

from __future__ import annotations

from typing import Any

from chargeplane.common.timeutil import utcnow
from chargeplane.services.ocpp.core.context import StationContext

from ..repository import RECORD_MAINTENANCE_STATUS, MaintenanceStatus


async def record_notification(ctx: StationContext, notification: str, payload: dict[str, Any]) -> dict[str, Any]:
    """What the four notification handlers do: keep the status; the reply is empty."""
    await ctx.store.run(RECORD_MAINTENANCE_STATUS, MaintenanceStatus(
        ctx.station_id, notification, payload["status"], payload.get("requestId"), utcnow()))
    return {}
