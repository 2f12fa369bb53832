"""The charging profiles each station holds, as the gateway knows them from the replies.

A SetChargingProfile is checked against OCPP 1.6's rules before it is sent; the profile is
stored once the station answers Accepted (replacing the one with the same id, or with the
same connector, purpose and stack level, as the station does), a ClearChargingProfile it
accepted removes what it names, and a TxProfile goes when its transaction ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg
import structlog

from chargeplane.common.web import ApiError

from .charging_profile_rules import RULES, RuleBroken

log = structlog.get_logger(__name__)

PROFILE_COLUMNS = "charging_profile_id, connector_id, purpose, stack_level, transaction_id, profile, accepted_at"


async def open_transactions(pool: asyncpg.Pool, station_id: str) -> dict[int, int]:
    """connector id -> the transaction running on it."""
    rows = await pool.fetch("SELECT connector_id, transaction_id FROM connectors"
                            " WHERE station_id = $1 AND transaction_id IS NOT NULL AND NOT transaction_ended",
                            station_id)
    return {r["connector_id"]: r["transaction_id"] for r in rows}


async def check_command(pool: asyncpg.Pool, station_id: str, action: str, payload: dict[str, Any]) -> None:
    """A 422 naming the field for a smart-charging command OCPP 1.6 does not allow."""
    rule = RULES.get(action)
    if rule is None:
        return
    try:
        rule(payload, await open_transactions(pool, station_id))
    except RuleBroken as exc:
        raise ApiError(422, "invalid_charging_profile", str(exc), {"path": exc.path}) from exc


async def record_reply(pool: asyncpg.Pool, station_id: str, action: str, payload: dict[str, Any],
                       result: dict[str, Any]) -> None:
    """What an accepted SetChargingProfile or ClearChargingProfile changed on the station."""
    status = result.get("status")
    if action == "SetChargingProfile" and status == "Accepted":
        await store_profile(pool, station_id, payload["connectorId"], payload["csChargingProfiles"])
    elif action == "ClearChargingProfile" and status in ("Accepted", "Unknown"):
        # Unknown: the station holds no such profile (any more), so neither do we
        await clear_profiles(pool, station_id, payload)


async def store_profile(pool: asyncpg.Pool, station_id: str, connector_id: int, profile: dict[str, Any]) -> None:
    purpose, stack_level = profile["chargingProfilePurpose"], profile["stackLevel"]
    async with pool.acquire() as conn, conn.transaction():
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
    log.info("charging profile stored", station_id=station_id, charging_profile_id=profile["chargingProfileId"],
             connector_id=connector_id, purpose=purpose, stack_level=stack_level)


async def clear_profiles(pool: asyncpg.Pool, station_id: str, criteria: dict[str, Any]) -> None:
    """ClearChargingProfile's matching: by id alone when it has one, else by every filter given."""
    if "id" in criteria:
        status = await pool.execute("DELETE FROM charging_profiles WHERE station_id = $1 AND charging_profile_id = $2",
                                    station_id, criteria["id"])
    else:
        status = await pool.execute(
            "DELETE FROM charging_profiles WHERE station_id = $1 AND ($2::int IS NULL OR connector_id = $2)"
            " AND ($3::text IS NULL OR purpose = $3) AND ($4::int IS NULL OR stack_level = $4)",
            station_id, criteria.get("connectorId"), criteria.get("chargingProfilePurpose"), criteria.get("stackLevel"),
        )
    log.info("charging profiles cleared", station_id=station_id, criteria=criteria, cleared=int(status.split()[-1]))


# TxProfiles of the stations in $1 whose transaction is no longer open (stopped, or lost in a reboot)
DROP_ENDED_TX_PROFILES = (
    "DELETE FROM charging_profiles p WHERE p.station_id = ANY($1::text[]) AND p.purpose = 'TxProfile'"
    " AND NOT EXISTS (SELECT 1 FROM connectors c WHERE c.station_id = p.station_id"
    " AND c.transaction_id = p.transaction_id AND NOT c.transaction_ended)"
    " RETURNING p.station_id, p.charging_profile_id, p.transaction_id"
)


def log_dropped(dropped: Iterable[tuple[str, int, int]]) -> None:
    for station_id, charging_profile_id, transaction_id in dropped:
        log.info("tx profile dropped with its transaction", station_id=station_id,
                 charging_profile_id=charging_profile_id, transaction_id=transaction_id)


async def transactions_changed(conn: asyncpg.Connection, station_ids: Sequence[str]) -> dict[str, str]:
    """Sessions started or ended at these stations: drop their TxProfiles whose transaction
    ended and return the charging site of each station that has one, whose limit is to be
    divided again once this commits."""
    rows = await conn.fetch(
        f"WITH dropped AS ({DROP_ENDED_TX_PROFILES})"
        " SELECT station_id, NULL::text AS site_id, charging_profile_id, transaction_id FROM dropped"
        " UNION ALL SELECT station_id, site_id, NULL, NULL FROM charging_site_stations"
        " WHERE station_id = ANY($1::text[])",
        list(station_ids))
    log_dropped((r["station_id"], r["charging_profile_id"], r["transaction_id"])
                for r in rows if r["site_id"] is None)
    return {r["station_id"]: r["site_id"] for r in rows if r["site_id"] is not None}


async def profiles_of(pool: asyncpg.Pool, station_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """station id -> the profiles it holds, for many stations in one statement."""
    rows = await pool.fetch(f"SELECT station_id, {PROFILE_COLUMNS} FROM charging_profiles"
                            " WHERE station_id = ANY($1::text[]) ORDER BY station_id, charging_profile_id", station_ids)
    held: dict[str, list[dict[str, Any]]] = {station_id: [] for station_id in station_ids}
    for row in rows:
        profile = dict(row)
        held[profile.pop("station_id")].append(profile)
    return held


async def list_profiles(pool: asyncpg.Pool, station_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(f"SELECT {PROFILE_COLUMNS} FROM charging_profiles WHERE station_id = $1"
                            " ORDER BY connector_id, purpose, stack_level DESC, charging_profile_id", station_id)
    return [dict(r) for r in rows]
