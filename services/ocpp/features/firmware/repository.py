"""Firmware Management in PostgreSQL: firmware campaigns and their target stations
(`firmware_campaigns`, `firmware_campaign_stations`), the diagnostics and logs stations were
asked for and uploaded (`station_upload_requests`, `station_files`), and each station's
history of firmware, diagnostics and log statuses (`station_maintenance_statuses`).

The notifications a station sends go through the group committer like every other station
message (`RECORD_MAINTENANCE_STATUS`), so the station is answered only once its news is
committed; a firmware status also moves the station's row of the campaign it is carrying out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from aiohttp import web

from chargeplane.services.ocpp.core.committer import SetWrite, Transaction

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


# A target still Sending this long after it was claimed belongs to a replica that died mid-send.
STALE_SENDING = "5 minutes"
# A station that reported no progress for this long no longer holds up its next campaign.
BUSY_FOR_AT_MOST = "1 hour"

_CLAIM = f"""
WITH candidates AS (
    SELECT DISTINCT ON (t.station_id) t.campaign_id, t.station_id
    FROM firmware_campaign_stations t JOIN charging_stations s ON s.id = t.station_id
    WHERE t.station_id = ANY($1::text[])
      AND (t.status = 'Pending' OR (t.status = 'Sending' AND t.updated_at < now() - interval '{STALE_SENDING}'))
      AND (t.station_id = ANY($2::text[]) OR s.last_boot_at >= t.created_at)
      AND NOT EXISTS (SELECT 1 FROM firmware_campaign_stations busy
                      WHERE busy.station_id = t.station_id AND busy.campaign_id <> t.campaign_id
                        AND busy.status = ANY($3::text[]) AND busy.updated_at > now() - interval '{BUSY_FOR_AT_MOST}')
    ORDER BY t.station_id, t.campaign_id
)
UPDATE firmware_campaign_stations t SET status = 'Sending', attempts = t.attempts + 1, updated_at = now()
FROM candidates c, firmware_campaigns f
WHERE t.campaign_id = c.campaign_id AND t.station_id = c.station_id AND f.id = c.campaign_id
  AND (t.status = 'Pending' OR t.status = 'Sending')
RETURNING t.campaign_id, t.station_id, f.location, f.retrieve_date, f.install_date, f.retries, f.retry_interval,
          f.signing_certificate, f.signature
"""
CAMPAIGN_COLUMNS = ("id, name, location, retrieve_date, install_date, retries, retry_interval,"
                    " signature IS NOT NULL AS signed, created_at")
FILE_COLUMNS = ("f.id, f.upload_request_id, r.action, f.file_name, f.content_type, f.size_bytes, f.sha256,"
                " f.uploaded_at")


class UnknownStations(Exception):
    def __init__(self, station_ids: list[str]) -> None:
        super().__init__("every target station must be registered")
        self.station_ids = station_ids


@dataclass(frozen=True, slots=True)
class NewCampaign:
    name: str
    location: str
    retrieve_date: datetime
    install_date: datetime | None
    retries: int | None
    retry_interval: int | None
    signing_certificate: str | None
    signature: str | None
    station_ids: list[str]


class FirmwareRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # ----- campaigns ----------------------------------------------------------------------

    async def create_campaign(self, campaign: NewCampaign) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            known = {r["id"] for r in await conn.fetch(
                "SELECT id FROM charging_stations WHERE id = ANY($1::text[])", campaign.station_ids)}
            if unknown := [station_id for station_id in campaign.station_ids if station_id not in known]:
                raise UnknownStations(unknown)
            campaign_id: int = await conn.fetchval(
                "INSERT INTO firmware_campaigns (name, location, retrieve_date, install_date, retries, retry_interval,"
                " signing_certificate, signature) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                campaign.name, campaign.location, campaign.retrieve_date, campaign.install_date, campaign.retries,
                campaign.retry_interval, campaign.signing_certificate, campaign.signature,
            )
            await conn.execute(
                "INSERT INTO firmware_campaign_stations (campaign_id, station_id) SELECT $1, unnest($2::text[])",
                campaign_id, campaign.station_ids,
            )
        return campaign_id

    async def campaign(self, campaign_id: int) -> dict[str, Any] | None:
        """A campaign with the status of each of its stations."""
        campaign = await self._pool.fetchrow(f"SELECT {CAMPAIGN_COLUMNS} FROM firmware_campaigns WHERE id = $1",
                                             campaign_id)
        if campaign is None:
            return None
        stations = await self._pool.fetch(
            "SELECT t.station_id, t.status, t.attempts, t.reply, t.sent_at, t.updated_at, s.firmware_version,"
            " s.connected FROM firmware_campaign_stations t JOIN charging_stations s ON s.id = t.station_id"
            " WHERE t.campaign_id = $1 ORDER BY t.station_id", campaign_id,
        )
        return {**dict(campaign), "stations": [dict(s) for s in stations]}

    async def campaigns(self, limit: int, offset: int) -> list[dict[str, Any]]:
        """Campaigns, newest first, each with how many of its stations are in which status."""
        rows = await self._pool.fetch(
            f"SELECT {', '.join('c.' + c.strip() for c in CAMPAIGN_COLUMNS.split(','))},"
            " (SELECT jsonb_object_agg(status, n) FROM (SELECT status, count(*) AS n FROM firmware_campaign_stations"
            "  WHERE campaign_id = c.id GROUP BY status) counted) AS statuses"
            " FROM firmware_campaigns c ORDER BY c.id DESC LIMIT $1 OFFSET $2",
            limit, offset,
        )
        return [dict(r) for r in rows]

    async def waiting_stations(self) -> set[str]:
        """The stations a campaign waits for (few, where many are connected)."""
        return {r["station_id"] for r in await self._pool.fetch(
            "SELECT DISTINCT station_id FROM firmware_campaign_stations WHERE status IN ('Pending', 'Sending')")}

    async def claim(self, stations: list[str], settled: list[str]) -> list[asyncpg.Record]:
        """Claim the next target of each of these stations (Sending), with its campaign: a
        station settled here, or booted since the campaign was made, that carries out no other
        campaign now."""
        return await self._pool.fetch(_CLAIM, stations, settled, CAMPAIGN_ACTIVE_STATUSES)

    async def record_send(self, campaign_id: int, station_id: str, status: str, reply: dict[str, Any] | None,
                          ) -> None:
        """The station's answer to the update; only a target still Sending takes it: the station
        may already have reported its first firmware status, which is newer news."""
        await self._pool.execute(
            "UPDATE firmware_campaign_stations SET status = CASE WHEN status = 'Sending' THEN $3 ELSE status END,"
            " reply = $4, sent_at = CASE WHEN $3 = 'Pending' THEN sent_at ELSE now() END, updated_at = now()"
            " WHERE campaign_id = $1 AND station_id = $2",
            campaign_id, station_id, status, reply,
        )

    # ----- diagnostics and logs -----------------------------------------------------------

    async def next_upload_request_id(self) -> int:
        request_id: int = await self._pool.fetchval(
            "SELECT nextval(pg_get_serial_sequence('station_upload_requests', 'id'))")
        return request_id

    async def create_upload_request(self, request_id: int, station_id: str, action: str, token: str,
                                    request: dict[str, Any], window_s: int) -> None:
        await self._pool.execute(
            "INSERT INTO station_upload_requests (id, station_id, action, token, request, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))",
            request_id, station_id, action, token, request, window_s,
        )

    async def record_upload_answer(self, request_id: int, reply: dict[str, Any] | None,
                                   error: dict[str, Any] | None) -> None:
        """The station's reply to the request, or what became of it instead."""
        await self._pool.execute("UPDATE station_upload_requests SET reply = $2, error = $3 WHERE id = $1",
                                 request_id, reply, error)

    async def upload_requests(self, station_id: str, limit: int, offset: int) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            "SELECT r.id, r.action, r.request, r.reply, r.error, r.created_at, r.expires_at,"
            " coalesce(array_agg(f.id ORDER BY f.id) FILTER (WHERE f.id IS NOT NULL), '{}') AS file_ids"
            " FROM station_upload_requests r LEFT JOIN station_files f ON f.upload_request_id = r.id"
            " WHERE r.station_id = $1 GROUP BY r.id ORDER BY r.id DESC LIMIT $2 OFFSET $3",
            station_id, limit, offset,
        )
        return [dict(r) for r in rows]

    async def upload_slot(self, token: str) -> asyncpg.Record | None:
        """The upload request (id, station) a location's token names, while it is open."""
        return await self._pool.fetchrow(
            "SELECT id, station_id FROM station_upload_requests WHERE token = $1 AND expires_at > now()", token)

    async def store_file(self, upload_request_id: int, station_id: str, file_name: str, content_type: str,
                         sha256: str, content: bytes) -> int:
        file_id: int = await self._pool.fetchval(
            "INSERT INTO station_files (upload_request_id, station_id, file_name, content_type, size_bytes, sha256,"
            " content) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            upload_request_id, station_id, file_name, content_type, len(content), sha256, content,
        )
        return file_id

    async def files(self, station_id: str, limit: int, offset: int) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"SELECT {FILE_COLUMNS} FROM station_files f JOIN station_upload_requests r ON r.id = f.upload_request_id"
            " WHERE f.station_id = $1 ORDER BY f.id DESC LIMIT $2 OFFSET $3",
            station_id, limit, offset,
        )
        return [dict(r) for r in rows]

    async def file(self, station_id: str, file_id: int) -> asyncpg.Record | None:
        """A file's name, content type and content."""
        return await self._pool.fetchrow(
            "SELECT file_name, content_type, content FROM station_files WHERE station_id = $1 AND id = $2",
            station_id, file_id,
        )

    # ----- maintenance statuses -----------------------------------------------------------

    async def firmware_version(self, station_id: str) -> tuple[bool, str | None]:
        """(whether the station is registered, the firmware version it booted with)."""
        row = await self._pool.fetchrow("SELECT firmware_version FROM charging_stations WHERE id = $1", station_id)
        return (row is not None, row["firmware_version"] if row else None)

    async def status_history(self, station_id: str, limit: int) -> list[dict[str, Any]]:
        return [dict(r) for r in await self._pool.fetch(
            "SELECT notification, status, request_id, received_at FROM station_maintenance_statuses"
            " WHERE station_id = $1 ORDER BY id DESC LIMIT $2", station_id, limit)]

    async def latest_statuses(self, station_id: str) -> dict[str, dict[str, Any]]:
        """Notification -> its latest status, request id and time."""
        return {r["notification"]: {k: r[k] for k in ("status", "request_id", "received_at")}
                for r in await self._pool.fetch(
                    "SELECT DISTINCT ON (notification) notification, status, request_id, received_at"
                    " FROM station_maintenance_statuses WHERE station_id = $1 ORDER BY notification, id DESC",
                    station_id)}


FIRMWARE = web.AppKey("firmware", FirmwareRepository)
