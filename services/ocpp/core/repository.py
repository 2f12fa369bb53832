"""The station registry in PostgreSQL: which stations may connect, on what terms, and the
view of each (online, connectors, last heartbeat). Read from the database, so every gateway
replica answers the same."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg
from aiohttp import web

from chargeplane.common.db import Connection, returned

from .registration import StationRegistration
from .store import Station

STATION_COLUMNS = (
    "id, vendor, model, serial_number, firmware_version, registration_status, heartbeat_interval, connected,"
    " last_boot_at, last_heartbeat_at, last_seen_at, security_profile, created_at"
)
# a transaction that ended (stopped, or closed when its station booted) is no longer the connector's
CONNECTOR_COLUMNS = (
    "connector_id, status, error_code, info, status_at,"
    " CASE WHEN transaction_ended THEN NULL ELSE transaction_id END AS transaction_id, meter_wh, meter_at"
)

CONNECTOR_STATUSES = ("Available", "Preparing", "Charging", "SuspendedEVSE", "SuspendedEV", "Finishing", "Reserved",
                      "Unavailable", "Faulted")
StationStatus = Literal["Online", "Offline", "Available", "Preparing", "Charging", "SuspendedEVSE", "SuspendedEV",
                        "Finishing", "Reserved", "Unavailable", "Faulted"]

# $1 search in the id, $2 vendor, $3 status (Online, Offline, or a connector's), $4 changed since.
# A station "changed" when it connected, disconnected, booted, sent a heartbeat or a connector's status.
_FILTER = (
    " WHERE ($1::text IS NULL OR s.id ILIKE '%' || $1 || '%' ESCAPE '\\')"
    " AND ($2::text IS NULL OR s.vendor = $2)"
    " AND ($3::text IS NULL OR ($3 = 'Online' AND s.connected) OR ($3 = 'Offline' AND NOT s.connected)"
    "  OR EXISTS (SELECT 1 FROM connectors c WHERE c.station_id = s.id AND c.status = $3))"
    " AND ($4::timestamptz IS NULL OR s.updated_at >= $4 OR s.last_heartbeat_at >= $4"
    "  OR EXISTS (SELECT 1 FROM connectors c WHERE c.station_id = s.id AND c.updated_at >= $4))"
)


@dataclass(frozen=True)
class StationFilter:
    search: str | None = None  # a part of the id, any case
    vendor: str | None = None
    status: StationStatus | None = None
    changed_since: datetime | None = None

    def arguments(self) -> tuple[Any, ...]:
        search = None if self.search is None else (
            self.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"))
        return search, self.vendor, self.status, self.changed_since


class StationRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def find(self, station_id: str) -> Station | None:
        row = await self._pool.fetchrow(
            "SELECT id, registration_status, heartbeat_interval, security_profile FROM charging_stations WHERE id = $1",
            station_id,
        )
        return Station(**dict(row)) if row else None

    async def exists(self, station_id: str) -> bool:
        found: bool = await self._pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM charging_stations WHERE id = $1)", station_id)
        return found

    async def register(self, station_id: str, registration: StationRegistration,
                       ) -> tuple[bool, StationRegistration | None]:
        """Create or change a registration; (whether it is new, the registration it replaced)."""
        async with self._pool.acquire() as conn, conn.transaction():
            previous = await conn.fetchrow(
                "SELECT heartbeat_interval, registration_status, desired_configuration, security_profile"
                " FROM charging_stations WHERE id = $1 FOR UPDATE", station_id)
            created: bool = await conn.fetchval(
                "INSERT INTO charging_stations (id, heartbeat_interval, registration_status, desired_configuration,"
                " security_profile) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET heartbeat_interval = $2,"
                " registration_status = $3, desired_configuration = $4, security_profile = $5, updated_at = now()"
                " RETURNING (xmax = 0)",
                station_id, registration.heartbeat_interval, registration.registration_status,
                registration.desired_configuration, registration.security_profile,
            )
        # as stored: not validated again (the rules may have tightened since)
        return created, StationRegistration.model_construct(**dict(previous)) if previous else None

    async def connectors(self, conn: Connection | asyncpg.Pool,
                         station_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        rows = await conn.fetch(
            f"SELECT station_id, {CONNECTOR_COLUMNS} FROM connectors WHERE station_id = ANY($1::text[])"
            " ORDER BY station_id, connector_id", station_ids)
        by_station: dict[str, list[dict[str, Any]]] = {station_id: [] for station_id in station_ids}
        for row in rows:
            connector = dict(row)
            by_station[connector.pop("station_id")].append(connector)
        return by_station

    async def view(self, station_id: str) -> dict[str, Any] | None:
        station = await self._pool.fetchrow(f"SELECT {STATION_COLUMNS} FROM charging_stations WHERE id = $1",
                                            station_id)
        if station is None:
            return None
        return {**dict(station), "connectors": (await self.connectors(self._pool, [station_id]))[station_id]}

    async def views(self, station_ids: list[str]) -> dict[str, dict[str, Any]]:
        """station id -> its view (as `view` gives it), for the registered ones of `station_ids`."""
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            rows = await conn.fetch(f"SELECT {STATION_COLUMNS} FROM charging_stations WHERE id = ANY($1::text[])",
                                    station_ids)
            connectors = await self.connectors(conn, [row["id"] for row in rows])
        return {row["id"]: {**dict(row), "connectors": connectors[row["id"]]} for row in rows}

    async def stations(self, where: StationFilter, limit: int, offset: int) -> dict[str, Any]:
        """A page of the stations that match, each with its connectors; how many match in all;
        and `as_of`, the database's time the page was read at (a poller's next `changed_since`)."""
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            as_of = await conn.fetchval("SELECT now()")
            rows = await conn.fetch(f"SELECT {STATION_COLUMNS} FROM charging_stations s{_FILTER}"
                                    " ORDER BY s.id LIMIT $5 OFFSET $6", *where.arguments(), limit, offset)
            total = await conn.fetchval(f"SELECT count(*) FROM charging_stations s{_FILTER}", *where.arguments())
            connectors = await self.connectors(conn, [row["id"] for row in rows])
        items = [{**dict(row), "connectors": connectors[row["id"]]} for row in rows]
        return {"items": items, "total": total, "as_of": as_of}

    async def counts(self) -> dict[str, Any]:
        """Stations in all, online and offline; stations with a connector in each OCPP status
        (what the list's `status` filter finds); the vendors there are."""
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            stations = returned(await conn.fetchrow(
                "SELECT count(*) AS total, count(*) FILTER (WHERE connected) AS online FROM charging_stations"))
            by_status: dict[str, int] = {row["status"]: row["count"] for row in await conn.fetch(
                "SELECT status, count(DISTINCT station_id) FROM connectors GROUP BY status")}
            vendors = await conn.fetch(
                "SELECT DISTINCT vendor FROM charging_stations WHERE vendor IS NOT NULL ORDER BY vendor LIMIT 200")
        return {"stations": stations["total"], "online": stations["online"],
                "offline": stations["total"] - stations["online"],
                "connector_statuses": {status: by_status.get(status, 0) for status in CONNECTOR_STATUSES},
                "vendors": [row["vendor"] for row in vendors]}

    async def frames(self, station_id: str, limit: int, offset: int) -> list[dict[str, Any]]:
        """The station's frames in and out, newest first, as they went over the wire. A reply is
        named by the action of its CALL (the log keeps the action with the CALL only), found
        among the station's frames of the minutes before it."""
        rows = await self._pool.fetch(
            "SELECT l.id, l.logged_at, l.direction, l.message_type, l.unique_id, coalesce(l.action, ("
            "  SELECT c.action FROM ocpp_message_log c WHERE c.station_id = l.station_id"
            "  AND c.logged_at BETWEEN l.logged_at - interval '10 minutes' AND l.logged_at"
            "  AND c.unique_id = l.unique_id AND c.message_type = 2 AND c.direction <> l.direction"
            "  ORDER BY c.logged_at DESC LIMIT 1)) AS action, l.frame"
            " FROM ocpp_message_log l WHERE l.station_id = $1"
            " ORDER BY l.logged_at DESC, l.id DESC LIMIT $2 OFFSET $3", station_id, limit, offset)
        return [dict(row) for row in rows]

    async def connected(self) -> list[str]:
        """The stations connected to any replica, by id."""
        return [r["id"] for r in await self._pool.fetch(
            "SELECT id FROM charging_stations WHERE connected ORDER BY id")]

    async def delete(self, station_id: str) -> None:
        await self._pool.execute("DELETE FROM charging_stations WHERE id = $1", station_id)


STATIONS = web.AppKey("stations", StationRepository)
