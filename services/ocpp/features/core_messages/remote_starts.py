"""Remote starts followed up: a RemoteStartTransaction the station accepted waits for the
StartTransaction that answers it, and expires without one, so no phantom session is left
behind (`GET /internal/stations/{id}/remote-starts` shows each)."""

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

from .repository import REMOTE_STARTS, RemoteStarts, settle

log = structlog.get_logger(__name__)

# A remote start the station accepted but never followed with StartTransaction expires.
REMOTE_START_EXPIRY_S = 120
REMOTE_START_SWEEP_S = 5.0


async def record_reply(app: web.Application, command: Command, reply: dict[str, Any]) -> None:
    if reply["status"] == "Accepted":
        await app[REMOTE_STARTS].record(command.station_id, command.payload.get("connectorId"),
                                        command.payload["idTag"], REMOTE_START_EXPIRY_S)


async def settle_started(app: web.Application, tx: Transaction, change: TransactionChange) -> None:
    await settle(tx.conn, change.started)


async def _expire(remote_starts: RemoteStarts) -> None:
    for expired in await remote_starts.expire():
        log.info("remote start expired", station_id=expired["station_id"], id_tag=expired["id_tag"])


async def remote_starts_context(app: web.Application) -> AsyncIterator[None]:
    """The repository, and the expiry sweeper. Every replica runs one: the UPDATE is idempotent."""
    remote_starts = app[REMOTE_STARTS] = RemoteStarts(app[DB_POOL])
    async with running(repeat(REMOTE_START_SWEEP_S, lambda: _expire(remote_starts), "remote start sweep failed")):
        yield
