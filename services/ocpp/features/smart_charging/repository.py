"""Smart charging in PostgreSQL: the charging profiles each station holds, as the gateway
knows them from its replies (`charging_profiles`), and charging sites (`charging_sites`,
`charging_site_stations`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp import web

from chargeplane.common.db import Connection

from .sites import SITE_PROFILE_ID_BASE

PROFILE_COLUMNS = "charging_profile_id, connector_id, purpose, stack_level, transaction_id, profile, accepted_at"

# TxProfiles of the stations in $1 whose transaction is no longer open (stopped, or lost in a reboot)
DROP_ENDED_TX_PROFILES = (
    "DELETE FROM charging_profiles p WHERE p.station_id = ANY($1::text[]) AND p.purpose = 'TxProfile'"
    " AND NOT EXISTS (SELECT 1 FROM connectors c WHERE c.station_id = p.station_id"
    " AND c.transaction_id = p.transaction_id AND NOT c.transaction_ended)"
    " RETURNING p.station_id, p.charging_profile_id, p.transaction_id"
)


class UnknownStations(Exception):
    def __init__(self, station_ids: list[str]) -> None:
        super().__init__(f"stations not registered: {', '.join(station_ids)}")
        self.station_ids = station_ids


class StationsInOtherSites(Exception):
    def __init__(self, sites: dict[str, str]) -> None:
        super().__init__("a station belongs to one charging site at most")
        self.sites = sites  # station -> the site it belongs to


@dataclass(frozen=True, slots=True)
class SiteSaved:
    created: bool
    left: list[str]  # stations that are no longer the site's


@dataclass(frozen=True, slots=True)
class Dropped:
    station_id: str
    charging_profile_id: int
    transaction_id: int


class SmartChargingRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def open_transactions(self, station_id: str) -> dict[int, int]:
        """connector id -> the transaction running on it."""
        rows = await self._pool.fetch("SELECT connector_id, transaction_id FROM connectors"
                                      " WHERE station_id = $1 AND transaction_id IS NOT NULL AND NOT transaction_ended",
                                      station_id)
        return {r["connector_id"]: r["transaction_id"] for r in rows}

    async def store_profile(self, station_id: str, connector_id: int, profile: dict[str, Any]) -> None:
        """A profile the station accepted replaces the one with its id, or with its connector,
        purpose and stack level, as the station does."""
        purpose, stack_level = profile["chargingProfilePurpose"], profile["stackLevel"]
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "DELETE FROM charging_profiles WHERE station_id = $1 AND (charging_profile_id = $2"
                " OR (connector_id = $3 AND purpose = $4 AND stack_level = $5))",
                station_id, profile["chargingProfileId"], connector_id, purpose, stack_level,
            )
            # a TxProfile belongs to the transaction it names, or else to the one running on its connector
            await conn.execute(
                "INSERT INTO charging_profiles (station_id, charging_profile_id, connector_id, purpose, stack_level,"
                " transaction_id, profile) SELECT $1, $2, $3, $4, $5, CASE WHEN $4 = 'TxProfile' THEN COALESCE($6,"
                " (SELECT transaction_id FROM connectors WHERE station_id = $1 AND connector_id = $3"
                " AND NOT transaction_ended)) END, $7::jsonb",
                station_id, profile["chargingProfileId"], connector_id, purpose, stack_level,
                profile.get("transactionId"), profile,
            )

    async def clear_profiles(self, station_id: str, criteria: dict[str, Any]) -> int:
        """ClearChargingProfile's matching: by id alone when it has one, else by every filter
        given; how many profiles went."""
        if "id" in criteria:
            status = await self._pool.execute(
                "DELETE FROM charging_profiles WHERE station_id = $1 AND charging_profile_id = $2",
                station_id, criteria["id"])
        else:
            status = await self._pool.execute(
                "DELETE FROM charging_profiles WHERE station_id = $1 AND ($2::int IS NULL OR connector_id = $2)"
                " AND ($3::text IS NULL OR purpose = $3) AND ($4::int IS NULL OR stack_level = $4)",
                station_id, criteria.get("connectorId"), criteria.get("chargingProfilePurpose"),
                criteria.get("stackLevel"),
            )
        return int(status.split()[-1])

    async def profiles_of(self, station_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """station id -> the profiles it holds, for many stations in one statement."""
        rows = await self._pool.fetch(f"SELECT station_id, {PROFILE_COLUMNS} FROM charging_profiles"
                                      " WHERE station_id = ANY($1::text[]) ORDER BY station_id, charging_profile_id",
                                      station_ids)
        held: dict[str, list[dict[str, Any]]] = {station_id: [] for station_id in station_ids}
        for row in rows:
            profile = dict(row)
            held[profile.pop("station_id")].append(profile)
        return held

    async def profiles(self, station_id: str) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(f"SELECT {PROFILE_COLUMNS} FROM charging_profiles WHERE station_id = $1"
                                      " ORDER BY connector_id, purpose, stack_level DESC, charging_profile_id",
                                      station_id)
        return [dict(r) for r in rows]

    async def site_limit(self, site_id: str) -> int | None:
        max_power_w: int | None = await self._pool.fetchval(
            "SELECT max_power_w FROM charging_sites WHERE id = $1", site_id)
        return max_power_w

    async def site_sessions(self, site_id: str) -> list[asyncpg.Record]:
        """The site's active sessions: station, connector, transaction, and the share profile
        its connector holds (`held`), of this transaction or not."""
        return await self._pool.fetch(
            "SELECT c.station_id, c.connector_id, c.transaction_id, p.profile AS held"
            " FROM charging_site_stations m JOIN connectors c USING (station_id)"
            " LEFT JOIN charging_profiles p ON p.station_id = c.station_id"
            " AND p.charging_profile_id = $2 + c.connector_id"
            " WHERE m.site_id = $1 AND c.transaction_id IS NOT NULL AND NOT c.transaction_ended"
            " ORDER BY c.station_id, c.connector_id",
            site_id, SITE_PROFILE_ID_BASE,
        )

    async def site(self, site_id: str) -> dict[str, Any] | None:
        """A site with its stations and active sessions; None when there is none."""
        site = await self._pool.fetchrow(
            "SELECT id, max_power_w, created_at, updated_at FROM charging_sites WHERE id = $1", site_id)
        if site is None:
            return None
        stations = await self._pool.fetch("SELECT station_id FROM charging_site_stations WHERE site_id = $1"
                                          " ORDER BY station_id", site_id)
        # each active session, with the share its station accepted for it (null until then)
        sessions = await self._pool.fetch(
            "SELECT c.station_id, c.connector_id, c.transaction_id,"
            " (p.profile #>> '{chargingSchedule,chargingSchedulePeriod,0,limit}')::float8 AS limit_w"
            " FROM charging_site_stations m JOIN connectors c USING (station_id)"
            " LEFT JOIN charging_profiles p ON p.station_id = c.station_id"
            " AND p.charging_profile_id = $2 + c.connector_id AND p.transaction_id = c.transaction_id"
            " WHERE m.site_id = $1 AND c.transaction_id IS NOT NULL AND NOT c.transaction_ended"
            " ORDER BY c.station_id, c.connector_id",
            site_id, SITE_PROFILE_ID_BASE,
        )
        return {**dict(site), "station_ids": [r["station_id"] for r in stations],
                "sessions": [dict(r) for r in sessions]}

    async def site_ids(self) -> list[str]:
        return [r["id"] for r in await self._pool.fetch("SELECT id FROM charging_sites ORDER BY id")]

    async def save_site(self, site_id: str, max_power_w: int, station_ids: list[str]) -> SiteSaved:
        """Create or change a site: its limit and its stations (each in one site at most)."""
        async with self._pool.acquire() as conn, conn.transaction():
            known = {r["id"] for r in await conn.fetch(
                "SELECT id FROM charging_stations WHERE id = ANY($1::text[])", station_ids)}
            if unknown := [s for s in station_ids if s not in known]:
                raise UnknownStations(unknown)
            created: bool = await conn.fetchval(
                "INSERT INTO charging_sites (id, max_power_w) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE"
                " SET max_power_w = $2, updated_at = now() RETURNING (xmax = 0)", site_id, max_power_w)
            elsewhere = await conn.fetch("SELECT station_id, site_id FROM charging_site_stations"
                                         " WHERE station_id = ANY($1::text[]) AND site_id <> $2", station_ids, site_id)
            if elsewhere:
                raise StationsInOtherSites({r["station_id"]: r["site_id"] for r in elsewhere})
            left = await conn.fetch("DELETE FROM charging_site_stations WHERE site_id = $1"
                                    " AND NOT station_id = ANY($2::text[]) RETURNING station_id", site_id, station_ids)
            await conn.execute("INSERT INTO charging_site_stations (station_id, site_id)"
                               " SELECT unnest($1::text[]), $2 ON CONFLICT DO NOTHING", station_ids, site_id)
        return SiteSaved(created, [r["station_id"] for r in left])

    async def delete_site(self, site_id: str) -> list[str]:
        """Delete a site; the stations it had."""
        async with self._pool.acquire() as conn, conn.transaction():
            members = await conn.fetch("DELETE FROM charging_site_stations WHERE site_id = $1 RETURNING station_id",
                                       site_id)
            await conn.execute("DELETE FROM charging_sites WHERE id = $1", site_id)
        return [r["station_id"] for r in members]


async def transactions_changed(conn: Connection, station_ids: Sequence[str]) -> tuple[list[Dropped],
                                                                                              dict[str, str]]:
    """Sessions started or ended at these stations: drop their TxProfiles whose transaction
    ended; (the profiles dropped, the charging site of each station that has one)."""
    rows = await conn.fetch(
        f"WITH dropped AS ({DROP_ENDED_TX_PROFILES})"
        " SELECT station_id, NULL::text AS site_id, charging_profile_id, transaction_id FROM dropped"
        " UNION ALL SELECT station_id, site_id, NULL, NULL FROM charging_site_stations"
        " WHERE station_id = ANY($1::text[])",
        list(station_ids))
    dropped = [Dropped(r["station_id"], r["charging_profile_id"], r["transaction_id"])
               for r in rows if r["site_id"] is None]
    return dropped, {r["station_id"]: r["site_id"] for r in rows if r["site_id"] is not None}


SMART_CHARGING = web.AppKey("smart_charging", SmartChargingRepository)
