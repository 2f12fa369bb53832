"""The station registry in PostgreSQL: which stations may connect, on what terms, and the
view of each (online, connectors, last heartbeat). Read from the database, so every gateway
replica answers the same."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

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

    async def view(self, station_id: str) -> dict[str, Any] | None:
        station = await self._pool.fetchrow(f"SELECT {STATION_COLUMNS} FROM charging_stations WHERE id = $1",
                                            station_id)
        if station is None:
            return None
        connectors = await self._pool.fetch(
            f"SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE station_id = $1 ORDER BY connector_id", station_id
        )
        return {**dict(station), "connectors": [dict(c) for c in connectors]}

    async def page(self, limit: int, offset: int) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"SELECT {STATION_COLUMNS} FROM charging_stations ORDER BY id LIMIT $1 OFFSET $2", limit, offset)
        return [dict(r) for r in rows]

    async def connected(self) -> list[str]:
        """The stations connected to any replica, by id."""
        return [r["id"] for r in await self._pool.fetch(
            "SELECT id FROM charging_stations WHERE connected ORDER BY id")]

    async def delete(self, station_id: str) -> None:
        await self._pool.execute("DELETE FROM charging_stations WHERE id = $1", station_id)


STATIONS = web.AppKey("stations", StationRepository)
