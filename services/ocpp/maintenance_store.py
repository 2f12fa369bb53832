"""The writes of the firmware, diagnostics and log notifications a station sends.

Each notification is kept in the station's history (`station_maintenance_statuses`); a
firmware status also moves the station's row of the firmware campaign it is carrying out.
They go through the group committer like every other station message, so the station is
answered only once its news is committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chargeplane.common.timeutil import utcnow

from .committer import SetWrite, Transaction
from .context import StationContext

FIRMWARE_NOTIFICATIONS = frozenset({"FirmwareStatusNotification", "SignedFirmwareStatusNotification"})
# Campaign statuses a station's firmware report may still move: sent (or being sent; the
# station may report Downloading before the sender has recorded its reply) and in progress.
CAMPAIGN_ACTIVE_STATUSES = [
    "Sending", "Accepted", "Downloading", "Downloaded", "DownloadScheduled", "DownloadPaused", "SignatureVerified",
    "Installing", "InstallScheduled", "InstallRebooting",
]


@dataclass(frozen=True, slots=True)
class MaintenanceStatus:
    station_id: str
    notification: str  # the OCPP action
    status: str
    request_id: int | None
    received_at: datetime


async def _record(tx: Transaction, items: Sequence[MaintenanceStatus]) -> list[None]:
    await tx.conn.execute(
        "INSERT INTO station_maintenance_statuses (station_id, notification, status, request_id, received_at)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::timestamptz[])",
        [i.station_id for i in items], [i.notification for i in items], [i.status for i in items],
        [i.request_id for i in items], [i.received_at for i in items],
    )
    # Idle says "nothing in progress" (the answer to a TriggerMessage): no campaign moves.
    # Firmware reports are rare, so one statement each.
    for item in items:
        if item.notification not in FIRMWARE_NOTIFICATIONS or item.status == "Idle":
            continue
        # A signed update's report names its request (the campaign's id); a plain one
        # belongs to the newest campaign the station is carrying out.
        await tx.conn.execute(
            "UPDATE firmware_campaign_stations SET status = $2, updated_at = $4"
            " WHERE (campaign_id, station_id) = (SELECT campaign_id, station_id FROM firmware_campaign_stations"
            " WHERE station_id = $1 AND status = ANY($3::text[]) AND ($5::bigint IS NULL OR campaign_id = $5)"
            " ORDER BY campaign_id DESC LIMIT 1)",
            item.station_id, item.status, CAMPAIGN_ACTIVE_STATUSES, item.received_at, item.request_id,
        )
    return [None] * len(items)


RECORD_MAINTENANCE_STATUS = SetWrite("maintenance-status", _record)


async def record_notification(ctx: StationContext, notification: str, payload: dict[str, Any]) -> dict[str, Any]:
    """What the four notification handlers do: keep the status; the reply is empty."""
    await ctx.store.run(RECORD_MAINTENANCE_STATUS, MaintenanceStatus(
        ctx.station_id, notification, payload["status"], payload.get("requestId"), utcnow()))
    return {}
