"""The charging profiles each station holds, as the gateway knows them from the replies.

A SetChargingProfile is checked against OCPP 1.6's rules before it is sent (`rules`); the
profile is stored once the station answers Accepted (replacing the one with the same id, or
with the same connector, purpose and stack level, as the station does), a ClearChargingProfile
it accepted removes what it names, and a TxProfile goes when its transaction ends: inside the
commit that ends it, which also finds the station's charging site, whose limit is divided
again once that commit is done (`balancer`).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import Any

import structlog
from aiohttp import web

from chargeplane.common.db import DB_POOL
from chargeplane.common.web import ApiError
from chargeplane.services.ocpp.core.commands import Command
from chargeplane.services.ocpp.core.committer import Transaction
from chargeplane.services.ocpp.core.store import TransactionChange

from .balancer import SITES
from .repository import SMART_CHARGING, SmartChargingRepository, transactions_changed
from .rules import RULES, RuleBroken

log = structlog.get_logger(__name__)


async def check_command(app: web.Application, command: Command) -> None:
    """A 422 naming the field for a smart-charging command OCPP 1.6 does not allow."""
    try:
        RULES[command.action](command.payload, await app[SMART_CHARGING].open_transactions(command.station_id))
    except RuleBroken as exc:
        raise ApiError(422, "invalid_charging_profile", str(exc), {"path": exc.path}) from exc


async def record_reply(app: web.Application, command: Command, reply: dict[str, Any]) -> None:
    """What an accepted SetChargingProfile or ClearChargingProfile changed on the station."""
    station_id, payload, status = command.station_id, command.payload, reply["status"]
    if command.action == "SetChargingProfile" and status == "Accepted":
        profile = payload["csChargingProfiles"]
        await app[SMART_CHARGING].store_profile(station_id, payload["connectorId"], profile)
        log.info("charging profile stored", station_id=station_id, charging_profile_id=profile["chargingProfileId"],
                 connector_id=payload["connectorId"], purpose=profile["chargingProfilePurpose"],
                 stack_level=profile["stackLevel"])
    elif command.action == "ClearChargingProfile" and status in ("Accepted", "Unknown"):
        # Unknown: the station holds no such profile (any more), so neither do we
        cleared = await app[SMART_CHARGING].clear_profiles(station_id, payload)
        log.info("charging profiles cleared", station_id=station_id, criteria=payload, cleared=cleared)


async def follow_transactions(app: web.Application, tx: Transaction, change: TransactionChange) -> None:
    """Inside the commit that started or ended transactions: the TxProfiles of the ended ones
    go, and each charging site they touch is divided again once the commit is done."""
    dropped, sites = await transactions_changed(tx.conn, change.station_ids)
    for profile in dropped:
        log.info("tx profile dropped with its transaction", station_id=profile.station_id,
                 charging_profile_id=profile.charging_profile_id, transaction_id=profile.transaction_id)
    balancer = app[SITES]
    for site_id in dict.fromkeys(sites.values()):
        tx.after_commit(functools.partial(balancer.site_changed, site_id))


async def repository_context(app: web.Application) -> AsyncIterator[None]:
    app[SMART_CHARGING] = SmartChargingRepository(app[DB_POOL])
    yield
