"""Reservations (OCPP 1.6 Reservation profile) followed through: what a station's answers to
ReserveNow and CancelReservation made of them, the StartTransaction that consumes one, and the
sweeper that releases the expired.

The gateway owns the `reservations` table because every rule about a reservation is decided
on the station's connection: the station's answer to ReserveNow / CancelReservation makes it
Active or Cancelled, and its StartTransaction carrying the reservationId consumes it in the
same transaction that allocates the transactionId (so the station's CALLRESULT means the
reservation is settled). The sessions service only keeps the reservationId on the session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import structlog
from aiohttp import web

from chargeplane.common.db import DB_POOL
from chargeplane.services.ocpp.core.background import repeat, running
from chargeplane.services.ocpp.core.commands import Command
from chargeplane.services.ocpp.core.committer import Transaction
from chargeplane.services.ocpp.core.store import TransactionChange

from .repository import RESERVATIONS, Reservations, consume

log = structlog.get_logger(__name__)

NAME = "reservations"
EXPIRY_SWEEP_S = 2.0


async def record_reply(app: web.Application, command: Command, reply: dict[str, Any]) -> dict[str, Any] | None:
    """What a ReserveNow or CancelReservation the station answered did: the reservation row it
    touched, or None (a cancel the station refused, or of no active reservation)."""
    station_id, payload = command.station_id, command.payload
    if command.action == "ReserveNow":
        row = await app[RESERVATIONS].record_reserve_now(station_id, payload, reply["status"])
        log.info("reservation recorded", station_id=station_id, reservation_id=payload["reservationId"],
                 connector_id=payload["connectorId"], station_status=reply["status"])
        return row
    if reply["status"] != "Accepted":
        return None
    cancelled = await app[RESERVATIONS].cancel(station_id, payload["reservationId"])
    if cancelled is not None:
        log.info("reservation cancelled", station_id=station_id, reservation_id=payload["reservationId"])
    return cancelled


async def consume_started(app: web.Application, tx: Transaction, change: TransactionChange) -> None:
    """Inside the commit that began them: the transactions that carry a reservationId use it."""
    used = await consume(tx.conn, [(new.start.station_id, new.start.reservation_id, new.transaction_id,
                                    new.start.started_at)
                                   for new in change.started if new.start.reservation_id is not None])
    for r in used:
        log.info("reservation consumed", station_id=r["station_id"], reservation_id=r["reservation_id"],
                 transaction_id=r["transaction_id"])


async def _expire(reservations: Reservations) -> None:
    for expired in await reservations.expire():
        log.info("reservation expired", station_id=expired["station_id"], reservation_id=expired["reservation_id"],
                 id_tag=expired["id_tag"])


async def reservations_context(app: web.Application) -> AsyncIterator[None]:
    """The repository, and the expiry sweeper. Every replica runs one: the UPDATE is idempotent."""
    reservations = app[RESERVATIONS] = Reservations(app[DB_POOL])
    async with running(repeat(EXPIRY_SWEEP_S, lambda: _expire(reservations), "reservation sweep failed")):
        yield
