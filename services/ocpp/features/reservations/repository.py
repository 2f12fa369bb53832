"""Reservations in PostgreSQL (`reservations`): what the stations accepted, and what became of it.

Statuses: Active (the station accepted), Rejected (it answered Faulted, Occupied, Rejected or
Unavailable: see `station_status`), Consumed (a StartTransaction used it: `transaction_id`),
Cancelled, Expired (past `expires_at` with no transaction), Replaced (a later ReserveNow with
the same reservationId took its place, as the station does).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
from aiohttp import web

from chargeplane.common.db import Connection, returned
from chargeplane.common.timeutil import parse_ocpp

COLUMNS = ("id, reservation_id, station_id, connector_id, id_tag, parent_id_tag, expires_at, status, station_status,"
           " transaction_id, created_at, settled_at")


class Reservations:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def next_id(self) -> int:
        """A reservationId of the platform's own sequence."""
        reservation_id: int = await self._pool.fetchval("SELECT nextval('reservation_ids')")
        return reservation_id

    async def record_reserve_now(self, station_id: str, payload: dict[str, Any], station_status: str,
                                 ) -> dict[str, Any]:
        """A ReserveNow the station answered: Active when Accepted (replacing an active one with
        the same reservationId), else Rejected with the station's status."""
        accepted = station_status == "Accepted"
        async with self._pool.acquire() as conn, conn.transaction():
            if accepted:
                await conn.execute(
                    "UPDATE reservations SET status = 'Replaced', settled_at = now()"
                    " WHERE station_id = $1 AND reservation_id = $2 AND status = 'Active'",
                    station_id, payload["reservationId"],
                )
            row = await conn.fetchrow(
                "INSERT INTO reservations (station_id, reservation_id, connector_id, id_tag, parent_id_tag,"
                f" expires_at, status, station_status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}",
                station_id, payload["reservationId"], payload["connectorId"], payload["idTag"],
                payload.get("parentIdTag"), parse_ocpp(payload["expiryDate"]), "Active" if accepted else "Rejected",
                station_status,
            )
        return dict(returned(row))

    async def cancel(self, station_id: str, reservation_id: int) -> dict[str, Any] | None:
        """The station cancelled it: the active reservation, now Cancelled (None if none was)."""
        row = await self._pool.fetchrow(
            "UPDATE reservations SET status = 'Cancelled', settled_at = now()"
            f" WHERE station_id = $1 AND reservation_id = $2 AND status = 'Active' RETURNING {COLUMNS}",
            station_id, reservation_id,
        )
        return dict(row) if row else None

    async def is_active(self, station_id: str, reservation_id: int) -> bool:
        active: bool = await self._pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM reservations WHERE station_id = $1 AND reservation_id = $2"
            " AND status = 'Active')", station_id, reservation_id)
        return active

    async def of_station(self, station_id: str, status: str | None, limit: int, offset: int) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"SELECT {COLUMNS} FROM reservations WHERE station_id = $1 AND ($2::text IS NULL OR status = $2)"
            " ORDER BY id DESC LIMIT $3 OFFSET $4",
            station_id, status, limit, offset,
        )
        return [dict(r) for r in rows]

    async def expire(self) -> list[asyncpg.Record]:
        """Release the reservations past their expiry that no transaction used."""
        return await self._pool.fetch(
            "UPDATE reservations SET status = 'Expired', settled_at = now()"
            " WHERE status = 'Active' AND expires_at < now() RETURNING station_id, reservation_id, id_tag"
        )


async def consume(conn: Connection, starts: Sequence[tuple[str, int, int, datetime]]) -> list[asyncpg.Record]:
    """StartTransactions that carry a reservationId (station, reservationId, transactionId,
    started at) consume the station's latest reservation with that id, if it was still valid
    when the transaction started (the sweeper may have expired it while the start travelled)."""
    if not starts:
        return []
    return await conn.fetch(
        "WITH used AS (SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::timestamptz[])"
        " AS u(station_id, reservation_id, transaction_id, started_at)),"
        " latest AS (SELECT DISTINCT ON (r.station_id, r.reservation_id) r.id, r.status, r.expires_at,"
        " u.transaction_id, u.started_at FROM reservations r JOIN used u USING (station_id, reservation_id)"
        " ORDER BY r.station_id, r.reservation_id, r.id DESC)"
        " UPDATE reservations r SET status = 'Consumed', transaction_id = l.transaction_id, settled_at = now()"
        " FROM latest l WHERE r.id = l.id AND l.status IN ('Active', 'Expired') AND l.expires_at >= l.started_at"
        " RETURNING r.station_id, r.reservation_id, r.transaction_id",
        *[[start[i] for start in starts] for i in range(4)],
    )


RESERVATIONS = web.AppKey("reservations", Reservations)
