"""Remote starts in PostgreSQL: each RemoteStartTransaction a station accepted, until a
StartTransaction answers it or it expires (`remote_start_requests`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from aiohttp import web

from chargeplane.common.db import Connection
from chargeplane.services.ocpp.core.store import NewTransaction


class RemoteStarts:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(self, station_id: str, connector_id: int | None, id_tag: str, expires_in_s: int) -> None:
        await self._pool.execute(
            "INSERT INTO remote_start_requests (station_id, connector_id, id_tag, expires_at)"
            " VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
            station_id, connector_id, id_tag, expires_in_s,
        )

    async def expire(self) -> list[asyncpg.Record]:
        """Remote starts no StartTransaction followed: expired, so no phantom session waits."""
        return await self._pool.fetch(
            "UPDATE remote_start_requests SET status = 'expired', settled_at = now()"
            " WHERE status = 'pending' AND expires_at < now() RETURNING id, station_id, id_tag"
        )

    async def of_station(self, station_id: str) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            "SELECT id, connector_id, id_tag, status, transaction_id, requested_at, expires_at, settled_at"
            " FROM remote_start_requests WHERE station_id = $1 ORDER BY id DESC LIMIT 100",
            station_id,
        )
        return [dict(r) for r in rows]


async def settle(conn: Connection, started: Sequence[NewTransaction]) -> None:
    """Inside the commit of these transactions: each settles the oldest pending remote start it
    answers (few stations have one)."""
    if not started:
        return
    awaiting = {r[0] for r in await conn.fetch(
        "SELECT DISTINCT station_id FROM remote_start_requests WHERE status = 'pending' AND station_id = ANY($1)",
        list({new.start.station_id for new in started}))}
    for new in started:
        start = new.start
        if start.station_id not in awaiting:
            continue
        await conn.execute(
            "UPDATE remote_start_requests SET status = 'started', transaction_id = $3, settled_at = now()"
            " WHERE id = (SELECT id FROM remote_start_requests WHERE station_id = $1 AND status = 'pending'"
            " AND id_tag = $2 AND (connector_id IS NULL OR connector_id = $4) ORDER BY id LIMIT 1)",
            start.station_id, start.id_tag, new.transaction_id, start.connector_id,
        )


REMOTE_STARTS = web.AppKey("remote_starts", RemoteStarts)
