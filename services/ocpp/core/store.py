"""The station store: what stations' messages change in stations and connectors, and the
outbox events that hand a station's news on to sessions and telemetry.

Every write goes through the group committer, so the station is answered only after
its news is committed together with the work it causes downstream. Every write is a set
write: one statement (or a few) over arrays for all the stations in a batch.

A feature that follows transactions (reservations consumed, remote starts settled, charging
profiles that end with their transaction) is told inside the same commit: the store calls
its `TransactionHook` with what the batch started, stopped or ended.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from aiohttp import web

from chargeplane.common.outbox import OutboxEvent
from chargeplane.common.outbox_events import (
    METER_VALUES,
    METER_VALUES_BATCH,
    SESSION_START,
    SESSION_STOP,
    STATION_BOOTED,
    AbandonedTransaction,
    LastMeterReading,
    MeterValues,
    MeterValuesBatch,
    SessionStart,
    SessionStop,
    StationBooted,
    as_meter_values,
)

from .committer import GroupCommitter, SetWrite, Transaction

SOURCE = "ocpp"
METER_VALUES_PER_EVENT = 500


@dataclass(frozen=True, slots=True)
class Station:
    id: str
    registration_status: str
    heartbeat_interval: int
    security_profile: int = 1


@dataclass(frozen=True, slots=True)
class OpenTransaction:
    connector_id: int
    transaction_id: int
    traceparent: str | None


@dataclass(frozen=True, slots=True)
class ConnectedStation:
    station: Station
    open_transactions: list[OpenTransaction]
    # False when the connection's transport is weaker than the station's security profile
    # (the station was not marked connected)
    admitted: bool = True


@dataclass(frozen=True, slots=True)
class MeterValuesWrite:
    station_id: str
    connector_id: int
    transaction_id: int | None
    meter_value: list[dict[str, Any]]
    energy: tuple[int, datetime] | None


@dataclass(frozen=True, slots=True)
class StartWrite:
    station_id: str
    connector_id: int
    id_tag: str
    meter_start: int
    started_at: datetime
    reservation_id: int | None
    traceparent: str | None


@dataclass(frozen=True, slots=True)
class StopWrite:
    station_id: str
    transaction_id: int
    meter_stop: int
    stopped_at: datetime
    reason: str | None
    id_tag: str | None
    transaction_data: list[dict[str, Any]]
    # the newest energy reading in `transaction_data`, if any
    end_reading_at: datetime | None
    traceparent: str | None


@dataclass(frozen=True, slots=True)
class NewTransaction:
    start: StartWrite
    transaction_id: int


@dataclass(frozen=True, slots=True)
class TransactionChange:
    """What one commit did to stations' transactions."""

    # the stations whose transactions started, stopped, or were ended by their reboot
    station_ids: Sequence[str]
    # the transactions it began (not a StartTransaction sent again)
    started: Sequence[NewTransaction] = ()


# Called inside the commit, with its connection: the feature's writes commit with the batch.
TransactionHook = Callable[[Transaction, TransactionChange], Awaitable[None]]


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as the column arrays `unnest` takes."""
    return [[row[i] for row in rows] for i in range(width)]


async def _connect(tx: Transaction, items: Sequence[tuple[str, datetime, int]]) -> list[ConnectedStation | None]:
    """Mark the stations connected whose transport (1 plain, 2 TLS, 3 mutual TLS) meets their
    security profile; return each one's registration and open transactions (None for an
    unknown station, `admitted=False` for a transport too weak). One statement for a whole
    reconnect storm's batch."""
    rows = await tx.conn.fetch(
        "WITH arrived AS (SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::smallint[]) AS a(id, at, transport)),"
        " admitted AS (UPDATE charging_stations s SET connected = true, last_seen_at = a.at, updated_at = now()"
        " FROM arrived a WHERE s.id = a.id AND s.security_profile <= a.transport RETURNING s.id)"
        " SELECT s.id, s.registration_status, s.heartbeat_interval, s.security_profile, c.connector_id,"
        " c.transaction_id, c.session_traceparent FROM charging_stations s"
        " LEFT JOIN connectors c ON c.station_id = s.id AND c.transaction_id IS NOT NULL AND NOT c.transaction_ended"
        " WHERE s.id IN (SELECT id FROM arrived)",
        *_columns(items, 3),
    )
    found: dict[str, tuple[Station, list[OpenTransaction]]] = {}
    for r in rows:
        station, open_transactions = found.setdefault(r["id"], (
            Station(r["id"], r["registration_status"], r["heartbeat_interval"], r["security_profile"]), []))
        if r["transaction_id"] is not None:
            open_transactions.append(OpenTransaction(r["connector_id"], r["transaction_id"], r["session_traceparent"]))
    results: list[ConnectedStation | None] = []
    for station_id, _, transport in items:
        if station_id not in found:
            results.append(None)
            continue
        station, open_transactions = found[station_id]
        results.append(ConnectedStation(station, open_transactions, station.security_profile <= transport))
    return results


async def _disconnect(tx: Transaction, items: Sequence[tuple[str, datetime]]) -> list[None]:
    await tx.conn.execute(
        "UPDATE charging_stations s SET connected = false, last_seen_at = a.at, updated_at = now()"
        " FROM unnest($1::text[], $2::timestamptz[]) AS a(id, at) WHERE s.id = a.id",
        *_columns(items, 2),
    )
    return [None] * len(items)


async def _boot(tx: Transaction, items: Sequence[tuple[str, dict[str, Any], datetime, str | None]]) -> list[str]:
    """Record the boots; return the stations whose open transactions the reboot ended."""
    await tx.conn.execute(
        "UPDATE charging_stations s SET vendor = b.vendor, model = b.model, serial_number = b.serial,"
        " firmware_version = b.firmware, last_boot_at = b.at, last_seen_at = b.at, updated_at = now()"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])"
        " AS b(id, vendor, model, serial, firmware, at) WHERE s.id = b.id",
        [i[0] for i in items], [i[1]["chargePointVendor"] for i in items], [i[1]["chargePointModel"] for i in items],
        [i[1].get("chargePointSerialNumber") or i[1].get("chargeBoxSerialNumber") for i in items],
        [i[1].get("firmwareVersion") for i in items], [i[2] for i in items],
    )
    # A rebooted station has lost its open transactions (unless it sends their
    # StopTransaction later): sessions closes them from the last meter reading. They stay on
    # their connectors, marked ended: many stations boot on every reconnect and carry on, and
    # the StartTransaction they resend (its reply was lost) or their late StopTransaction must
    # still find them.
    abandoned = await tx.conn.fetch(
        "UPDATE connectors SET transaction_ended = true, updated_at = now()"
        " WHERE station_id = ANY($1::text[]) AND transaction_id IS NOT NULL AND NOT transaction_ended"
        " RETURNING station_id, connector_id, transaction_id, meter_wh, meter_at",
        [i[0] for i in items],
    )
    by_station: dict[str, list[asyncpg.Record]] = {}
    for r in abandoned:
        by_station.setdefault(r["station_id"], []).append(r)
    for station_id, _, now, traceparent in items:
        if station_id not in by_station:
            continue
        tx.outbox.enqueue([OutboxEvent("sessions", STATION_BOOTED, f"booted:{station_id}:{uuid.uuid4()}", StationBooted(
            station_id=station_id, booted_at=now, open_transactions=[
                AbandonedTransaction(transaction_id=r["transaction_id"], connector_id=r["connector_id"],
                                     meter_wh=r["meter_wh"], meter_at=r["meter_at"])
                for r in sorted(by_station[station_id], key=lambda r: r["connector_id"])
            ],
        ))], traceparent)
    return list(by_station)


async def _heartbeat(tx: Transaction, items: Sequence[tuple[str, datetime]]) -> list[None]:
    await tx.conn.execute(
        "UPDATE charging_stations s SET last_heartbeat_at = h.at, last_seen_at = h.at"
        " FROM unnest($1::text[], $2::timestamptz[]) AS h(id, at) WHERE s.id = h.id",
        *_columns(items, 2),
    )
    return [None] * len(items)


async def _status(tx: Transaction, items: Sequence[tuple[Any, ...]]) -> list[None]:
    await tx.conn.execute(
        "INSERT INTO connectors (station_id, connector_id, status, error_code, info, vendor_error_code, status_at)"
        " SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[],"
        " $7::timestamptz[])"
        " ON CONFLICT (station_id, connector_id) DO UPDATE SET status = EXCLUDED.status,"
        " error_code = EXCLUDED.error_code, info = EXCLUDED.info, vendor_error_code = EXCLUDED.vendor_error_code,"
        " status_at = EXCLUDED.status_at, updated_at = now()",
        *_columns(items, 7),
    )
    return [None] * len(items)


async def _meter_values(tx: Transaction, items: Sequence[MeterValuesWrite]) -> list[None]:
    readings = [(i.station_id, i.connector_id, i.energy[0], i.energy[1]) for i in items if i.energy is not None]
    if readings:
        await tx.conn.execute(
            "INSERT INTO connectors (station_id, connector_id, meter_wh, meter_at)"
            " SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::timestamptz[])"
            " ON CONFLICT (station_id, connector_id) DO UPDATE SET meter_wh = EXCLUDED.meter_wh,"
            " meter_at = EXCLUDED.meter_at"
            " WHERE connectors.meter_at IS NULL OR connectors.meter_at <= EXCLUDED.meter_at",
            *_columns(readings, 4),
        )
    # One event for many stations: one outbox row, one request to telemetry, one INSERT
    # there. Capped, so that one request stays well inside the relay's timeout.
    for start in range(0, len(items), METER_VALUES_PER_EVENT):
        batch = MeterValuesBatch(
            meter_values=[
                MeterValues(station_id=i.station_id, connector_id=i.connector_id, transaction_id=i.transaction_id,
                            meter_value=as_meter_values(i.meter_value))
                for i in items[start : start + METER_VALUES_PER_EVENT]
            ],
        )
        tx.outbox.enqueue([OutboxEvent("telemetry", METER_VALUES_BATCH, f"meter-values:{uuid.uuid4()}", batch)], None)
    return [None] * len(items)


async def _start_transactions(tx: Transaction, items: Sequence[StartWrite]) -> tuple[list[int], list[NewTransaction]]:
    """Each start's transactionId, and the transactions begun (not a start sent again)."""
    current = {(r["station_id"], r["connector_id"]): r for r in await tx.conn.fetch(
        "SELECT c.station_id, c.connector_id, c.transaction_id, c.transaction_ended, c.transaction_started_at,"
        " c.transaction_meter_start, c.meter_wh, c.meter_at FROM connectors c"
        " JOIN unnest($1::text[], $2::int[]) AS s(station_id, connector_id)"
        " USING (station_id, connector_id) ORDER BY c.station_id, c.connector_id FOR UPDATE OF c",
        [i.station_id for i in items], [i.connector_id for i in items],
    )}
    results: list[int] = []
    new: list[tuple[StartWrite, asyncpg.Record | None]] = []
    for item in items:
        row = current.get((item.station_id, item.connector_id))
        if (row and row["transaction_id"] is not None and row["transaction_started_at"] == item.started_at
                and row["transaction_meter_start"] == item.meter_start):
            results.append(int(row["transaction_id"]))  # the same StartTransaction again, ended or not
        else:
            results.append(0)
            new.append((item, row))
    if not new:
        return results, []
    ids = [r[0] for r in await tx.conn.fetch(
        "SELECT nextval('charging_sessions_id_seq') FROM generate_series(1, $1)", len(new))]
    await tx.conn.execute(
        "INSERT INTO connectors (station_id, connector_id, transaction_id, session_traceparent,"
        " transaction_started_at, transaction_meter_start, meter_wh, meter_at)"
        " SELECT s, c, t, p, a, m, m, a FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[],"
        " $5::timestamptz[], $6::bigint[]) AS u(s, c, t, p, a, m)"
        " ON CONFLICT (station_id, connector_id) DO UPDATE SET transaction_id = EXCLUDED.transaction_id,"
        " session_traceparent = EXCLUDED.session_traceparent,"
        " transaction_started_at = EXCLUDED.transaction_started_at,"
        " transaction_meter_start = EXCLUDED.transaction_meter_start, meter_wh = EXCLUDED.meter_wh,"
        " meter_at = EXCLUDED.meter_at, transaction_ended = false, updated_at = now()",
        [i.station_id for i, _ in new], [i.connector_id for i, _ in new], ids, [i.traceparent for i, _ in new],
        [i.started_at for i, _ in new], [i.meter_start for i, _ in new],
    )
    allocated = iter(ids)
    for position, item in enumerate(items):
        if results[position]:
            continue
        transaction_id = results[position] = next(allocated)
        row = current.get((item.station_id, item.connector_id))
        superseded = None
        if row and row["transaction_id"] is not None and not row["transaction_ended"]:
            superseded = LastMeterReading(transaction_id=row["transaction_id"], meter_wh=row["meter_wh"],
                                          meter_at=row["meter_at"])
        tx.outbox.enqueue([OutboxEvent("sessions", SESSION_START, f"session-start:{transaction_id}", SessionStart(
            transaction_id=transaction_id, station_id=item.station_id, connector_id=item.connector_id,
            id_tag=item.id_tag, meter_start_wh=item.meter_start, started_at=item.started_at,
            reservation_id=item.reservation_id, traceparent=item.traceparent, superseded=superseded,
        ))], item.traceparent)
    return results, [NewTransaction(item, transaction_id) for (item, _), transaction_id in zip(new, ids, strict=True)]


async def _stop(tx: Transaction, items: Sequence[StopWrite]) -> None:
    """Mark each connector's transaction ended (it stays there: a stop sent again finds it too)
    and queue the session stop with the readings billing must wait for: the readings travel to
    telemetry on another relay, and a bill priced before they arrive would miss them. Two
    suffice: the newest periodic energy reading acknowledged for the transaction (one station's
    MeterValues reach telemetry in order, so the earlier ones are there by then) and the newest
    of the stop's own transactionData (one event of its own, whole or not at all)."""
    before = {(r["station_id"], r["transaction_id"]): r for r in await tx.conn.fetch(
        "WITH s AS (SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::timestamptz[])"
        " AS s(station_id, tx, meter, at)),"
        " before AS (SELECT c.station_id, c.connector_id, s.tx, s.meter, s.at, c.meter_at, c.transaction_started_at"
        " FROM connectors c JOIN s ON c.station_id = s.station_id AND c.transaction_id = s.tx"
        " ORDER BY c.station_id, c.connector_id FOR UPDATE OF c)"
        " UPDATE connectors c SET transaction_ended = true, meter_wh = b.meter, meter_at = b.at, updated_at = now()"
        " FROM before b WHERE c.station_id = b.station_id AND c.connector_id = b.connector_id"
        " RETURNING b.station_id, b.tx AS transaction_id, b.connector_id, b.meter_at, b.transaction_started_at",
        [i.station_id for i in items], [i.transaction_id for i in items], [i.meter_stop for i in items],
        [i.stopped_at for i in items],
    )}
    for i in items:
        row = before.get((i.station_id, i.transaction_id))
        # at the start meter_at is the start itself, which is no reading of telemetry's
        periodic = row["meter_at"] if row and row["meter_at"] and row["meter_at"] > row["transaction_started_at"] \
            else None
        awaited = sorted({at for at in (periodic, i.end_reading_at) if at is not None})
        events = [OutboxEvent("sessions", SESSION_STOP, f"session-stop:{i.station_id}:{i.transaction_id}", SessionStop(
            transaction_id=i.transaction_id, station_id=i.station_id, meter_stop_wh=i.meter_stop,
            stopped_at=i.stopped_at, reason=i.reason or "Local", id_tag=i.id_tag, awaited_readings=awaited,
        ))]
        if i.transaction_data:
            events.append(OutboxEvent(
                "telemetry", METER_VALUES, f"stop-meter-values:{i.station_id}:{i.transaction_id}", MeterValues(
                    station_id=i.station_id, connector_id=row["connector_id"] if row else 0,
                    transaction_id=i.transaction_id, meter_value=as_meter_values(i.transaction_data),
                )))
        tx.outbox.enqueue(events, i.traceparent)


CONNECT = SetWrite("connect", _connect)
DISCONNECT = SetWrite("disconnect", _disconnect)
HEARTBEAT = SetWrite("heartbeat", _heartbeat)
STATUS = SetWrite("status", _status)
METER_VALUES_WRITE = SetWrite("meter-values", _meter_values)


class StationStore:
    def __init__(self, committer: GroupCommitter, hooks: Sequence[TransactionHook] = ()) -> None:
        """`hooks`: the features' TransactionHooks, called in this order."""
        self._committer = committer
        self._hooks = tuple(hooks)
        self._boot = SetWrite("boot", self._write_boots)
        self._start = SetWrite("start", self._write_starts)
        self._stop = SetWrite("stop", self._write_stops)

    async def run(self, set_write: SetWrite[Any], item: Any) -> Any:
        """Commit a set write of a feature with the next batch."""
        return await self._committer.run_set(set_write, item)

    async def connect(self, station_id: str, now: datetime, transport: int = 1) -> ConnectedStation | None:
        """Mark a known station connected and load what its handlers need; None if unknown.
        `transport` is the security profile the connection meets (1 plain ... 3 mutual TLS)."""
        result: ConnectedStation | None = await self._committer.run_set(CONNECT, (station_id, now, transport))
        return result

    async def disconnect(self, station_id: str, now: datetime) -> None:
        await self._committer.run_set(DISCONNECT, (station_id, now))

    async def record_boot(self, station_id: str, payload: dict[str, Any], now: datetime,
                          traceparent: str | None) -> None:
        await self._committer.run_set(self._boot, (station_id, payload, now, traceparent))

    async def record_heartbeat(self, station_id: str, now: datetime) -> None:
        await self._committer.run_set(HEARTBEAT, (station_id, now))

    async def record_status(self, station_id: str, payload: dict[str, Any], at: datetime) -> None:
        await self._committer.run_set(STATUS, (
            station_id, payload["connectorId"], payload["status"], payload["errorCode"], payload.get("info"),
            payload.get("vendorErrorCode"), at,
        ))

    async def start_transaction(self, start: StartWrite) -> int:
        """Allocate the transactionId (the `charging_sessions.id` to be) and queue the session start."""
        transaction_id: int = await self._committer.run_set(self._start, start)
        return transaction_id

    async def stop_transaction(self, stop: StopWrite) -> None:
        """Mark the transaction ended and queue the session stop."""
        await self._committer.run_set(self._stop, stop)

    async def meter_values(self, write: MeterValuesWrite) -> None:
        await self._committer.run_set(METER_VALUES_WRITE, write)

    async def _transactions_changed(self, tx: Transaction, change: TransactionChange) -> None:
        for hook in self._hooks:
            await hook(tx, change)

    async def _write_boots(self, tx: Transaction, items: Sequence[tuple[str, dict[str, Any], datetime, str | None]],
                           ) -> list[None]:
        if ended := await _boot(tx, items):
            await self._transactions_changed(tx, TransactionChange(ended))
        return [None] * len(items)

    async def _write_starts(self, tx: Transaction, items: Sequence[StartWrite]) -> list[int]:
        transaction_ids, new = await _start_transactions(tx, items)
        await self._transactions_changed(tx, TransactionChange([i.station_id for i in items], new))
        return transaction_ids

    async def _write_stops(self, tx: Transaction, items: Sequence[StopWrite]) -> list[None]:
        await _stop(tx, items)
        await self._transactions_changed(tx, TransactionChange([i.station_id for i in items]))
        return [None] * len(items)


STORE = web.AppKey("store", StationStore)
