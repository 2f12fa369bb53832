"""A station's configuration keys in PostgreSQL: what it reported, and its answers to
ChangeConfiguration (`station_configuration`, `station_configuration_changes`); the desired
values are the registration's (`charging_stations.desired_configuration`).

Reports are kept through the group committer (many stations' reports share a transaction:
a reconnect storm reads thousands at once), and the commit that keeps one returns the
station's desired values, so a station with none costs no further query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from chargeplane.services.ocpp.core.committer import SetWrite, Transaction
from chargeplane.services.ocpp.core.registration import WRITE_ONLY_KEYS
from chargeplane.services.ocpp.core.store import StationStore

from .rules import desired_state


@dataclass(frozen=True, slots=True)
class StationConfiguration:
    desired: dict[str, str]
    last_boot_at: datetime | None
    keys: list[dict[str, Any]]  # known keys: key, value, readonly, reported_at
    unknown_keys: list[dict[str, Any]]  # key, reported_at
    changes: list[dict[str, Any]]  # key, value, status, detail, source, requested_at

    @property
    def reported(self) -> dict[str, str | None]:
        return {k["key"]: k["value"] for k in self.keys}

    def to_json(self, station_id: str) -> dict[str, Any]:
        return {
            "station_id": station_id,
            "keys": self.keys,
            "unknown_keys": self.unknown_keys,
            "desired": desired_state(self.desired, self.reported, {c["key"]: c for c in self.changes},
                                     self.last_boot_at),
            "changes": self.changes,
        }


@dataclass(frozen=True, slots=True)
class _Report:
    station_id: str
    reply: Mapping[str, Any]
    whole: bool  # an answer about every key: the ones it leaves out are gone
    at: datetime

    def rows(self) -> dict[str, tuple[bool, str | None, bool | None]]:
        """key -> (known, value, readonly); a key listed twice counts once (the last)."""
        rows: dict[str, tuple[bool, str | None, bool | None]] = {
            k["key"]: (True, k.get("value"), k["readonly"]) for k in self.reply.get("configurationKey", [])}
        rows.update((key, (False, None, None)) for key in self.reply.get("unknownKey", []) if key not in rows)
        for key in WRITE_ONLY_KEYS & rows.keys():
            del rows[key]
        return rows


async def _store_reports(tx: Transaction, reports: Sequence[_Report]) -> list[dict[str, str]]:
    await tx.conn.execute("DELETE FROM station_configuration WHERE station_id = ANY($1::text[])",
                          [r.station_id for r in reports if r.whole])
    rows = [(r.station_id, key, *row, r.at) for r in reports for key, row in r.rows().items()]
    await tx.conn.execute(
        "INSERT INTO station_configuration AS c (station_id, key, known, value, readonly, reported_at)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::bool[], $4::text[], $5::bool[], $6::timestamptz[])"
        " ON CONFLICT (station_id, key) DO UPDATE SET known = EXCLUDED.known, value = EXCLUDED.value,"
        " readonly = EXCLUDED.readonly, reported_at = EXCLUDED.reported_at",
        *(list(column) for column in zip(*rows, strict=True)) if rows else ([],) * 6,
    )
    desired = {r["id"]: dict(r["desired_configuration"]) for r in await tx.conn.fetch(
        "SELECT id, desired_configuration FROM charging_stations WHERE id = ANY($1::text[])",
        [r.station_id for r in reports])}
    return [desired.get(r.station_id, {}) for r in reports]


REPORT = SetWrite("configuration-report", _store_reports)


class ConfigurationRepository:
    def __init__(self, pool: asyncpg.Pool, store: StationStore) -> None:
        self._pool = pool
        self._store = store

    async def load(self, station_id: str) -> StationConfiguration | None:
        """None when the station is not registered."""
        async with self._pool.acquire() as conn, conn.transaction(readonly=True, isolation="repeatable_read"):
            station = await conn.fetchrow(
                "SELECT desired_configuration, last_boot_at FROM charging_stations WHERE id = $1", station_id)
            if station is None:
                return None
            reported = await conn.fetch(
                "SELECT key, known, value, readonly, reported_at FROM station_configuration"
                " WHERE station_id = $1 ORDER BY key", station_id)
            changes = await conn.fetch(
                "SELECT key, value, status, detail, source, requested_at FROM station_configuration_changes"
                " WHERE station_id = $1 ORDER BY key", station_id)
        return StationConfiguration(
            desired=dict(station["desired_configuration"]),
            last_boot_at=station["last_boot_at"],
            keys=[{"key": r["key"], "value": r["value"], "readonly": r["readonly"], "reported_at": r["reported_at"]}
                  for r in reported if r["known"]],
            unknown_keys=[{"key": r["key"], "reported_at": r["reported_at"]} for r in reported if not r["known"]],
            changes=[dict(r) for r in changes],
        )

    async def store_report(self, station_id: str, reply: Mapping[str, Any], asked: Iterable[str] | None,
                           now: datetime) -> dict[str, str]:
        """Keep a GetConfiguration.conf; return the station's desired values. A reply to a
        question for every key (`asked` None or empty) is the whole truth: keys it no longer
        lists are forgotten."""
        desired: dict[str, str] = await self._store.run(REPORT, _Report(station_id, reply, not asked, now))
        return desired

    async def record_change(self, station_id: str, key: str, value: str, status: str, detail: str | None,
                            source: str, now: datetime) -> None:
        await self._pool.execute(
            "INSERT INTO station_configuration_changes (station_id, key, value, status, detail, source, requested_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (station_id, key) DO UPDATE"
            " SET value = $3, status = $4, detail = $5, source = $6, requested_at = $7",
            station_id, key, value, status, detail, source, now,
        )
