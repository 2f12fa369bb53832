"""The version of the local authorization list each station holds, in PostgreSQL
(`station_local_lists`), from its answers to SendLocalList and GetLocalListVersion."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

COLUMNS = "station_id, list_version, last_update_type, last_update_version, last_update_status, updated_at"


class StationLocalLists:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def held(self, station_id: str) -> dict[str, Any] | None:
        row = await self._pool.fetchrow(f"SELECT {COLUMNS} FROM station_local_lists WHERE station_id = $1",
                                        station_id)
        return dict(row) if row else None

    async def held_version(self, station_id: str) -> int | None:
        version: int | None = await self._pool.fetchval(
            "SELECT list_version FROM station_local_lists WHERE station_id = $1", station_id)
        return version

    async def record_version(self, station_id: str, list_version: int) -> None:
        """What GetLocalListVersion answered."""
        await self._pool.execute(
            "INSERT INTO station_local_lists (station_id, list_version) VALUES ($1, $2)"
            " ON CONFLICT (station_id) DO UPDATE SET list_version = $2, updated_at = now()",
            station_id, list_version,
        )

    async def record_update(self, station_id: str, update_type: str, list_version: int, status: str) -> None:
        """What SendLocalList answered. Accepted: the station holds the version sent.
        VersionMismatch: it holds another one, which only GetLocalListVersion would tell.
        Failed, NotSupported: it kept what it had."""
        await self._pool.execute(
            "INSERT INTO station_local_lists (station_id, list_version, last_update_type, last_update_version,"
            " last_update_status) VALUES ($1, CASE WHEN $4 = 'Accepted' THEN $3::int END, $2, $3, $4)"
            " ON CONFLICT (station_id) DO UPDATE SET list_version = CASE $4 WHEN 'Accepted' THEN $3"
            " WHEN 'VersionMismatch' THEN NULL ELSE station_local_lists.list_version END,"
            " last_update_type = $2, last_update_version = $3, last_update_status = $4, updated_at = now()",
            station_id, update_type, list_version, status,
        )


LOCAL_LISTS = web.AppKey("local_lists", StationLocalLists)
