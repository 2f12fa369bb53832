"""Reservations (OCPP 1.6 Reservation profile): what the stations accepted, and what became of it.

The gateway owns the `reservations` table because every rule about a reservation is decided
on the station's connection: the station's answer to ReserveNow / CancelReservation makes it
Active or Cancelled, and its StartTransaction carrying the reservationId consumes it in the
same transaction that allocates the transactionId (so the station's CALLRESULT means the
reservation is settled). The sessions service only keeps the reservationId on the session.

Statuses: Active (the station accepted), Rejected (it answered Faulted, Occupied, Rejected or
Unavailable: see `station_status`), Consumed (a StartTransaction used it: `transaction_id`),
Cancelled, Expired (past `expires_at` with no transaction), Replaced (a later ReserveNow with
the same reservationId took its place, as the station does).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import structlog
from aiohttp import web

from chargeplane.common.keys import DB_POOL
from chargeplane.common.timeutil import parse_ocpp

from . import schemas

log = structlog.get_logger(__name__)

EXPIRY_SWEEP_S = 2.0
COLUMNS = ("id, reservation_id, station_id, connector_id, id_tag, parent_id_tag, expires_at, status, station_status,"
           " transaction_id, created_at, settled_at")


async def record_reply(pool: asyncpg.Pool, station_id: str, action: str, payload: dict[str, Any],
                       reply: dict[str, Any]) -> dict[str, Any] | None:
    """Keep what a ReserveNow or CancelReservation the station answered did; the reservation
    row it touched, or None (other actions, a cancel the station refused, a malformed reply)."""
    if action not in ("ReserveNow", "CancelReservation"):
        return None
    if not schemas.validator(f"{action}Response").is_valid(reply):
        log.warning("station reply not recorded", station_id=station_id, action=action, reply=reply)
        return None
    if action == "ReserveNow":
        return await _record_reserve_now(pool, station_id, payload, reply["status"])
    if reply["status"] == "Accepted":
        row = await pool.fetchrow(
            "UPDATE reservations SET status = 'Cancelled', settled_at = now()"
            f" WHERE station_id = $1 AND reservation_id = $2 AND status = 'Active' RETURNING {COLUMNS}",
            station_id, payload["reservationId"],
        )
        if row is not None:
            log.info("reservation cancelled", station_id=station_id, reservation_id=payload["reservationId"])
        return dict(row) if row else None
    return None


async def _record_reserve_now(pool: asyncpg.Pool, station_id: str, payload: dict[str, Any],
                              station_status: str) -> dict[str, Any]:
    accepted = station_status == "Accepted"
    async with pool.acquire() as conn, conn.transaction():
        if accepted:
            await conn.execute(
                "UPDATE reservations SET status = 'Replaced', settled_at = now()"
                " WHERE station_id = $1 AND reservation_id = $2 AND status = 'Active'",
                station_id, payload["reservationId"],
            )
        row = await conn.fetchrow(
            "INSERT INTO reservations (station_id, reservation_id, connector_id, id_tag, parent_id_tag, expires_at,"
            f" status, station_status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}",
            station_id, payload["reservationId"], payload["connectorId"], payload["idTag"], payload.get("parentIdTag"),
            parse_ocpp(payload["expiryDate"]), "Active" if accepted else "Rejected", station_status,
        )
    log.info("reservation recorded", station_id=station_id, reservation_id=payload["reservationId"],
             connector_id=payload["connectorId"], station_status=station_status)
    return dict(row)


async def consume(conn: asyncpg.Connection, starts: Sequence[tuple[str, int, int, datetime]]) -> None:
    """StartTransactions that carry a reservationId (station, reservationId, transactionId,
    started at) consume the station's latest reservation with that id, if it was still valid
    when the transaction started (the sweeper may have expired it while the start travelled)."""
    if not starts:
        return
    rows = await conn.fetch(
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
    for r in rows:
        log.info("reservation consumed", station_id=r["station_id"], reservation_id=r["reservation_id"],
                 transaction_id=r["transaction_id"])


async def expire(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    """Release the reservations past their expiry that no transaction used."""
    return await pool.fetch(
        "UPDATE reservations SET status = 'Expired', settled_at = now()"
        " WHERE status = 'Active' AND expires_at < now() RETURNING station_id, reservation_id, id_tag"
    )


async def _expire_forever(pool: asyncpg.Pool) -> None:
    while True:
        await asyncio.sleep(EXPIRY_SWEEP_S)
        try:
            for expired in await expire(pool):
                log.info("reservation expired", station_id=expired["station_id"],
                         reservation_id=expired["reservation_id"], id_tag=expired["id_tag"])
        except Exception as exc:
            log.warning("reservation sweep failed", error=repr(exc))


async def reservations_context(app: web.Application) -> AsyncIterator[None]:
    """The expiry sweeper. Every replica runs one: the UPDATE is idempotent."""
    sweeper = asyncio.create_task(_expire_forever(app[DB_POOL]))
    yield
    sweeper.cancel()
    await asyncio.gather(sweeper, return_exceptions=True)
