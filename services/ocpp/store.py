"""The gateway's PostgreSQL repository: stations, connectors, and the outbox events
that hand a station's news on to sessions and telemetry.

Every write goes through the group committer, so the station is answered only after
its news is committed together with the work it causes downstream.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from chargeplane.common.outbox import OutboxEvent, enqueue

from .committer import GroupCommitter

SOURCE = "ocpp"
SESSION_START = "/internal/ocpp/session-start"
SESSION_STOP = "/internal/ocpp/session-stop"
STATION_BOOTED = "/internal/ocpp/station-booted"
METER_VALUES = "/internal/ocpp/meter-values"


@dataclass(frozen=True, slots=True)
class Station:
    id: str
    registration_status: str
    heartbeat_interval: int


@dataclass(frozen=True, slots=True)
class OpenTransaction:
    connector_id: int
    transaction_id: int
    traceparent: str | None


class StationStore:
    def __init__(self, pool: asyncpg.Pool, committer: GroupCommitter) -> None:
        self._pool = pool
        self._committer = committer

    async def find_station(self, station_id: str) -> Station | None:
        row = await self._pool.fetchrow(
            "SELECT id, registration_status, heartbeat_interval FROM charging_stations WHERE id = $1", station_id
        )
        return Station(**dict(row)) if row else None

    async def open_transactions(self, station_id: str) -> list[OpenTransaction]:
        rows = await self._pool.fetch(
            "SELECT connector_id, transaction_id, session_traceparent AS traceparent FROM connectors"
            " WHERE station_id = $1 AND transaction_id IS NOT NULL",
            station_id,
        )
        return [OpenTransaction(**dict(r)) for r in rows]

    async def set_connected(self, station_id: str, connected: bool, now: datetime) -> None:
        await self._pool.execute(
            "UPDATE charging_stations SET connected = $2, last_seen_at = $3, updated_at = now() WHERE id = $1",
            station_id, connected, now,
        )

    async def record_boot(self, station_id: str, payload: dict[str, Any], now: datetime,
                          traceparent: str | None) -> None:
        async def work(conn: asyncpg.Connection) -> None:
            await conn.execute(
                "UPDATE charging_stations SET vendor = $2, model = $3, serial_number = $4,"
                " firmware_version = $5, last_boot_at = $6, last_seen_at = $6, updated_at = now() WHERE id = $1",
                station_id, payload["chargePointVendor"], payload["chargePointModel"],
                payload.get("chargePointSerialNumber") or payload.get("chargeBoxSerialNumber"),
                payload.get("firmwareVersion"), now,
            )
            # A rebooted station has lost its open transactions (unless it sends their
            # StopTransaction later): sessions closes them from the last meter reading.
            abandoned = await conn.fetch(
                "SELECT connector_id, transaction_id, meter_wh, meter_at FROM connectors"
                " WHERE station_id = $1 AND transaction_id IS NOT NULL FOR UPDATE",
                station_id,
            )
            if not abandoned:
                return
            await conn.execute(
                "UPDATE connectors SET transaction_id = NULL, session_traceparent = NULL,"
                " transaction_started_at = NULL, transaction_meter_start = NULL, updated_at = now()"
                " WHERE station_id = $1",
                station_id,
            )
            event = OutboxEvent("sessions", STATION_BOOTED, f"booted:{station_id}:{uuid.uuid4()}", {
                "station_id": station_id,
                "booted_at": now.isoformat(),
                "open_transactions": [
                    {"transaction_id": r["transaction_id"], "connector_id": r["connector_id"],
                     "meter_wh": r["meter_wh"], "meter_at": r["meter_at"].isoformat() if r["meter_at"] else None}
                    for r in abandoned
                ],
            })
            await enqueue(conn, SOURCE, [event], traceparent)

        await self._committer.run(work)

    async def record_heartbeat(self, station_id: str, now: datetime) -> None:
        async def work(conn: asyncpg.Connection) -> None:
            await conn.execute(
                "UPDATE charging_stations SET last_heartbeat_at = $2, last_seen_at = $2 WHERE id = $1",
                station_id, now,
            )

        await self._committer.run(work)

    async def record_status(self, station_id: str, payload: dict[str, Any], at: datetime) -> None:
        async def work(conn: asyncpg.Connection) -> None:
            await conn.execute(
                "INSERT INTO connectors (station_id, connector_id, status, error_code, info, vendor_error_code,"
                " status_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                " ON CONFLICT (station_id, connector_id) DO UPDATE SET status = $3, error_code = $4, info = $5,"
                " vendor_error_code = $6, status_at = $7, updated_at = now()",
                station_id, payload["connectorId"], payload["status"], payload["errorCode"],
                payload.get("info"), payload.get("vendorErrorCode"), at,
            )

        await self._committer.run(work)

    async def start_transaction(
        self, station_id: str, connector_id: int, id_tag: str, meter_start: int, started_at: datetime,
        reservation_id: int | None, traceparent: str | None,
    ) -> int:
        """Allocate the transactionId (the `charging_sessions.id` to be) and queue the session start."""

        async def work(conn: asyncpg.Connection) -> int:
            current = await conn.fetchrow(
                "SELECT transaction_id, transaction_started_at, transaction_meter_start, meter_wh, meter_at"
                " FROM connectors WHERE station_id = $1 AND connector_id = $2 FOR UPDATE",
                station_id, connector_id,
            )
            if (current and current["transaction_id"] is not None
                    and current["transaction_started_at"] == started_at
                    and current["transaction_meter_start"] == meter_start):
                return int(current["transaction_id"])  # the same StartTransaction again
            transaction_id = int(await conn.fetchval("SELECT nextval('charging_sessions_id_seq')"))
            await conn.execute(
                "INSERT INTO connectors (station_id, connector_id, transaction_id, session_traceparent,"
                " transaction_started_at, transaction_meter_start, meter_wh, meter_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $6, $5)"
                " ON CONFLICT (station_id, connector_id) DO UPDATE SET transaction_id = $3,"
                " session_traceparent = $4, transaction_started_at = $5, transaction_meter_start = $6,"
                " meter_wh = $6, meter_at = $5, updated_at = now()",
                station_id, connector_id, transaction_id, traceparent, started_at, meter_start,
            )
            superseded = None
            if current and current["transaction_id"] is not None:
                superseded = {"transaction_id": current["transaction_id"], "meter_wh": current["meter_wh"],
                              "meter_at": current["meter_at"].isoformat() if current["meter_at"] else None}
            event = OutboxEvent("sessions", SESSION_START, f"session-start:{transaction_id}", {
                "transaction_id": transaction_id, "station_id": station_id, "connector_id": connector_id,
                "id_tag": id_tag, "meter_start_wh": meter_start, "started_at": started_at.isoformat(),
                "reservation_id": reservation_id, "traceparent": traceparent, "superseded": superseded,
            })
            await enqueue(conn, SOURCE, [event], traceparent)
            await conn.execute(
                "UPDATE remote_start_requests SET status = 'started', transaction_id = $3, settled_at = now()"
                " WHERE id = (SELECT id FROM remote_start_requests WHERE station_id = $1 AND status = 'pending'"
                " AND id_tag = $2 AND (connector_id IS NULL OR connector_id = $4) ORDER BY id LIMIT 1)",
                station_id, id_tag, transaction_id, connector_id,
            )
            return transaction_id

        return await self._committer.run(work)

    async def stop_transaction(
        self, station_id: str, transaction_id: int, meter_stop: int, stopped_at: datetime,
        reason: str | None, id_tag: str | None, transaction_data: list[dict[str, Any]], traceparent: str | None,
    ) -> None:
        async def work(conn: asyncpg.Connection) -> None:
            connector_id = await conn.fetchval(
                "UPDATE connectors SET transaction_id = NULL, session_traceparent = NULL,"
                " transaction_started_at = NULL, transaction_meter_start = NULL,"
                " meter_wh = $3, meter_at = $4, updated_at = now()"
                " WHERE station_id = $1 AND transaction_id = $2 RETURNING connector_id",
                station_id, transaction_id, meter_stop, stopped_at,
            )
            events = [OutboxEvent("sessions", SESSION_STOP, f"session-stop:{station_id}:{transaction_id}", {
                "transaction_id": transaction_id, "station_id": station_id, "meter_stop_wh": meter_stop,
                "stopped_at": stopped_at.isoformat(), "reason": reason or "Local", "id_tag": id_tag,
            })]
            if transaction_data:
                events.append(OutboxEvent(
                    "telemetry", METER_VALUES, f"stop-meter-values:{station_id}:{transaction_id}", {
                        "station_id": station_id, "connector_id": connector_id or 0,
                        "transaction_id": transaction_id, "meter_value": transaction_data,
                    }))
            await enqueue(conn, SOURCE, events, traceparent)

        await self._committer.run(work)

    async def meter_values(
        self, station_id: str, connector_id: int, transaction_id: int | None,
        meter_value: list[dict[str, Any]], energy: tuple[int, datetime] | None, traceparent: str | None,
    ) -> None:
        async def work(conn: asyncpg.Connection) -> None:
            if energy is not None:
                await conn.execute(
                    "INSERT INTO connectors (station_id, connector_id, meter_wh, meter_at) VALUES ($1, $2, $3, $4)"
                    " ON CONFLICT (station_id, connector_id) DO UPDATE SET meter_wh = $3, meter_at = $4"
                    " WHERE connectors.meter_at IS NULL OR connectors.meter_at <= $4",
                    station_id, connector_id, energy[0], energy[1],
                )
            event = OutboxEvent("telemetry", METER_VALUES, f"meter-values:{station_id}:{uuid.uuid4()}", {
                "station_id": station_id, "connector_id": connector_id,
                "transaction_id": transaction_id, "meter_value": meter_value,
            })
            await enqueue(conn, SOURCE, [event], traceparent)

        await self._committer.run(work)

    async def record_remote_start(self, station_id: str, connector_id: int | None, id_tag: str,
                                  expires_in_s: int) -> None:
        await self._pool.execute(
            "INSERT INTO remote_start_requests (station_id, connector_id, id_tag, expires_at)"
            " VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
            station_id, connector_id, id_tag, expires_in_s,
        )

    async def expire_remote_starts(self) -> list[asyncpg.Record]:
        """Remote starts no StartTransaction followed: expired, so no phantom session waits."""
        return await self._pool.fetch(
            "UPDATE remote_start_requests SET status = 'expired', settled_at = now()"
            " WHERE status = 'pending' AND expires_at < now() RETURNING id, station_id, id_tag"
        )
