"""A station's OCPP configuration keys: what it reports, what the operator wants, what it answered.

The gateway reads a station's keys itself (GetConfiguration) once its BootNotification is
Accepted, and after every GetConfiguration or accepted ChangeConfiguration sent through the
API. The desired values (`desired_configuration`, set through the registry) are enforced
whenever the station is online: after each boot, and when they change. A key is changed
only when the value the station reports differs from the desired one, and the station's
answer to each ChangeConfiguration is kept, so the API and the operator can show which keys
the station refused.

Reports are kept through the group committer (many stations' reports share a transaction:
a reconnect storm reads thousands at once), and the commit that keeps one returns the
station's desired values, so a station with none costs no further query.

`AuthorizationKey` is write-only (OCPP 1.6 security whitepaper): it is never stored, never
enforced from here, and refused as a desired key; the station's password belongs to the
security profile.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import asyncpg
import structlog
from aiohttp import web
from pydantic import AfterValidator, Field, StringConstraints

from chargeplane.common.keys import DB_POOL
from chargeplane.common.timeutil import utcnow

from .commands import CommandOutcome, CommandRouter
from .committer import SetWrite, Transaction
from .keys import COMMANDS, CONFIGURATION, STORE
from .store import StationStore

log = structlog.get_logger(__name__)

WRITE_ONLY_KEYS = frozenset({"AuthorizationKey"})
# How long the gateway waits for each of its own configuration calls to a station.
CALL_TIMEOUT_S = 30.0
# ChangeConfiguration.conf statuses that mean the station took the value.
TAKEN = frozenset({"Accepted", "RebootRequired"})
# The station's answer did not say: a CALLERROR or no answer in time.
FAILED = "Failed"
MAX_DESIRED_KEYS = 200


def _refuse_write_only_keys(desired: dict[str, str]) -> dict[str, str]:
    refused = sorted(WRITE_ONLY_KEYS & desired.keys())
    if refused:
        raise ValueError(f"{', '.join(refused)} is write-only and not enforced as configuration: the station's"
                         " password is set through its security profile")
    return desired


# OCPP 1.6: a key is CiString50, a ChangeConfiguration value CiString500.
ConfigKey = Annotated[str, StringConstraints(min_length=1, max_length=50)]
ConfigValue = Annotated[str, StringConstraints(max_length=500)]
DesiredConfiguration = Annotated[dict[ConfigKey, ConfigValue], Field(max_length=MAX_DESIRED_KEYS),
                                 AfterValidator(_refuse_write_only_keys)]


# ----- pure rules --------------------------------------------------------------------------------

def keys_to_change(desired: Mapping[str, str], reported: Mapping[str, str | None]) -> dict[str, str]:
    """The desired keys whose reported value differs (OCPP values are compared as the strings
    they are; a key the station did not report is tried too: it answers NotSupported)."""
    return {key: value for key, value in desired.items() if key not in reported or reported[key] != value}


def desired_state(desired: Mapping[str, str], reported: Mapping[str, str | None],
                  changes: Mapping[str, Mapping[str, Any]], last_boot_at: datetime | None) -> dict[str, Any]:
    """Where each desired key stands, and one status for them all.

    A key is `RebootRequired` when the station took its value with that answer and has not
    booted since; else `Applied` when the station reports the desired value; else it has the
    station's answer to the last ChangeConfiguration of that value (`Rejected`,
    `NotSupported`, `Failed`), or is `Pending` (not tried yet, e.g. the station is offline).
    The overall status is the worst of them: Rejected > Pending > RebootRequired > Applied.
    """
    keys = []
    for key, value in sorted(desired.items()):
        change = changes.get(key)
        answer = change["status"] if change is not None and change["value"] == value else None
        if answer == "RebootRequired" and (last_boot_at is None or change["requested_at"] > last_boot_at):
            status = "RebootRequired"
        elif key in reported and reported[key] == value:
            status = "Applied"
        elif answer in ("Rejected", "NotSupported", FAILED):
            status = answer
        else:
            status = "Pending"
        keys.append({"key": key, "value": value, "reported_value": reported.get(key), "status": status,
                     "answer": answer, "detail": change["detail"] if answer else None,
                     "requested_at": change["requested_at"] if answer else None})
    statuses = {k["status"] for k in keys}
    if statuses & {"Rejected", "NotSupported", FAILED}:
        overall = "Rejected"
    elif "Pending" in statuses:
        overall = "Pending"
    elif "RebootRequired" in statuses:
        overall = "RebootRequired"
    else:
        overall = "Applied"
    return {"status": overall, "keys": keys}


def change_answer(outcome: CommandOutcome) -> tuple[str, str | None]:
    """(status, detail) to keep for a ChangeConfiguration's outcome."""
    if outcome.status == "result":
        return str(outcome.payload["status"]), None
    if outcome.status == "error":
        return FAILED, f"CALLERROR {outcome.payload['errorCode']}: {outcome.payload.get('errorDescription', '')}"
    return FAILED, f"no answer ({outcome.status})"


# ----- storage -----------------------------------------------------------------------------------

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


# ----- the gateway's own configuration calls -----------------------------------------------------

class ConfigurationSync:
    """Reads and enforces stations' configuration in the background; one pass at a time per station."""

    def __init__(self, repository: ConfigurationRepository, commands: CommandRouter) -> None:
        self.repository = repository
        self.commands = commands
        self._running: set[asyncio.Task[None]] = set()
        # a station's lock lives as long as a pass holds or awaits it
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def after_boot(self, station_id: str) -> None:
        """The station's BootNotification was answered Accepted: read its keys, then enforce."""
        await self._one_at_a_time(station_id, self._after_boot)

    def desired_changed(self, station_id: str) -> None:
        """Enforce the new desired values, wherever the station is connected (if it is)."""
        self._start(station_id, self.enforce)

    async def close(self) -> None:
        for task in self._running:
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    def _start(self, station_id: str, work: Callable[[str], Awaitable[None]]) -> None:
        task = asyncio.create_task(self._one_at_a_time(station_id, work))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _one_at_a_time(self, station_id: str, work: Callable[[str], Awaitable[None]]) -> None:
        lock = self._locks.setdefault(station_id, asyncio.Lock())
        try:
            async with lock:
                await work(station_id)
        except Exception as exc:  # the next boot or desired change tries again
            log.warning("station configuration sync failed", station_id=station_id, error=repr(exc))

    async def _after_boot(self, station_id: str) -> None:
        if await self.refresh(station_id):  # something desired: enforce it
            await self.enforce(station_id)

    async def refresh(self, station_id: str, keys: list[str] | None = None) -> dict[str, str]:
        """Ask the station for its keys (all, or `keys`) and keep the answer; return the
        station's desired values (none when it gave no answer)."""
        outcome = await self.commands.send(station_id, "GetConfiguration", {"key": keys} if keys else {},
                                           CALL_TIMEOUT_S)
        if outcome.status != "result":
            log.info("station configuration not read", station_id=station_id, outcome=outcome.status,
                     error=outcome.payload.get("errorCode"))
            return {}
        return await self.store(station_id, outcome.payload, keys)

    async def store(self, station_id: str, reply: Mapping[str, Any], asked: list[str] | None) -> dict[str, str]:
        desired = await self.repository.store_report(station_id, reply, asked, utcnow())
        log.info("station configuration reported", station_id=station_id,
                 keys=len(reply.get("configurationKey", [])), unknown_keys=len(reply.get("unknownKey", [])))
        return desired

    async def enforce(self, station_id: str) -> None:
        """ChangeConfiguration for each desired key the station reports otherwise, then read back
        the keys it took. Stops when the station is offline: its next boot enforces again."""
        configuration = await self.repository.load(station_id)
        if configuration is None:
            return
        changed = []
        for key, value in keys_to_change(configuration.desired, configuration.reported).items():
            outcome = await self.commands.send(station_id, "ChangeConfiguration", {"key": key, "value": value},
                                               CALL_TIMEOUT_S)
            if outcome.status == "offline":
                return
            status = await self.record_change(station_id, key, value, outcome, source="desired")
            if status in TAKEN:
                changed.append(key)
        if changed:
            await self.refresh(station_id, changed)

    async def record_change(self, station_id: str, key: str, value: str, outcome: CommandOutcome,
                            source: str) -> str:
        status, detail = change_answer(outcome)
        await self.repository.record_change(station_id, key, value, status, detail, source, utcnow())
        log.info("station configuration changed" if status in TAKEN else "station configuration change refused",
                 station_id=station_id, key=key, status=status, source=source, detail=detail)
        return status

    async def after_command(self, station_id: str, action: str, payload: Mapping[str, Any],
                            outcome: CommandOutcome) -> None:
        """Keep what a GetConfiguration or ChangeConfiguration sent through the API says."""
        if action == "GetConfiguration" and outcome.status == "result":
            await self.store(station_id, outcome.payload, payload.get("key"))
        elif action == "ChangeConfiguration" and payload["key"] not in WRITE_ONLY_KEYS:
            status = await self.record_change(station_id, payload["key"], payload["value"], outcome, source="api")
            if status in TAKEN:
                await self.refresh(station_id, [payload["key"]])


async def configuration_context(app: web.Application) -> AsyncIterator[None]:
    """After commands_context: the gateway's own configuration calls go through its router."""
    sync = ConfigurationSync(ConfigurationRepository(app[DB_POOL], app[STORE]), app[COMMANDS])
    app[CONFIGURATION] = sync
    yield
    await sync.close()
