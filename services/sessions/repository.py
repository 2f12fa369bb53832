"""charging_sessions in PostgreSQL, the active-session cache in Redis.

PostgreSQL is the truth; Redis holds `sessions:active:{station}:{connector}` ->
session id for the API's live view, written after each commit and rebuilt from
PostgreSQL when it is empty (a restarted Redis loses nothing that matters).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import orjson
import structlog
from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from chargeplane.common.db import Connection, returned
from chargeplane.common.outbox import OutboxEvent, PendingOutbox
from chargeplane.common.outbox_events import (
    SESSION_STOPPED,
    AbandonedTransaction,
    SessionStart,
    SessionStop,
    SessionStopped,
)

log = structlog.get_logger(__name__)

SOURCE = "sessions"
SESSION_COLUMNS = (
    "id, station_id, connector_id, id_tag, status, meter_start_wh, meter_stop_wh, started_at, stopped_at,"
    " stop_reason, closed_by, reservation_id, traceparent"
)


def active_key(station_id: str, connector_id: int | str) -> str:
    return f"sessions:active:{station_id}:{connector_id}"


def _jsonable(session: asyncpg.Record) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in dict(session).items()}


def _bill_event(session: asyncpg.Record, key_suffix: str = "",
                awaited_readings: Sequence[datetime] = ()) -> OutboxEvent:
    stopped = SessionStopped(
        session_id=session["id"], station_id=session["station_id"], connector_id=session["connector_id"],
        id_tag=session["id_tag"], meter_start_wh=session["meter_start_wh"], meter_stop_wh=session["meter_stop_wh"],
        started_at=session["started_at"], stopped_at=session["stopped_at"], awaited_readings=list(awaited_readings),
        closed_by=session["closed_by"],
    )
    return OutboxEvent("billing", SESSION_STOPPED, f"session-stopped:{session['id']}{key_suffix}", stopped)


async def _close(
    conn: Connection, session_id: int, meter_stop_wh: int, stopped_at: datetime, reason: str,
    closed_by: str, id_tag: str | None = None,
) -> asyncpg.Record:
    # A station offline for days reports an old timestamp; it is the truth, but a
    # session cannot end before it began, nor meter backwards.
    return returned(await conn.fetchrow(
        "UPDATE charging_sessions SET status = 'completed', meter_stop_wh = GREATEST($2, meter_start_wh),"
        " stopped_at = GREATEST($3, started_at), stop_reason = $4, closed_by = $5,"
        " id_tag = COALESCE(id_tag, $6), updated_at = now() WHERE id = $1"
        f" RETURNING {SESSION_COLUMNS}",
        session_id, meter_stop_wh, stopped_at, reason, closed_by, id_tag,
    ))


@dataclass
class Changes:
    """What one transaction did to sessions, for the work after it: sessions to cache while
    their rows are still locked (a stop of one, sent again while its start is handled, waits
    for the commit and uncaches after it), sessions closed, to uncache and log, and the bills
    to ask for, written to the outbox in one statement before the commit."""

    started: list[asyncpg.Record] = field(default_factory=list)
    closed: list[asyncpg.Record] = field(default_factory=list)
    outbox: PendingOutbox = field(default_factory=lambda: PendingOutbox(SOURCE))


# One event's work inside a transaction shared with others: returns the event's answer.
SessionWork = Callable[[Connection, Changes], Awaitable[Any]]


def start_work(start: SessionStart, traceparent: str | None) -> SessionWork:
    async def work(conn: Connection, changes: Changes) -> dict[str, Any]:
        closed: list[asyncpg.Record] = []
        # Whatever is still open on this connector was abandoned by the station.
        for row in await conn.fetch(
            "SELECT id, meter_start_wh, started_at FROM charging_sessions WHERE station_id = $1"
            " AND connector_id = $2 AND status = 'active' AND id <> $3 FOR UPDATE",
            start.station_id, start.connector_id, start.transaction_id,
        ):
            last = start.superseded if start.superseded and start.superseded.transaction_id == row["id"] else None
            meter = last.meter_wh if last and last.meter_wh is not None else row["meter_start_wh"]
            at = last.meter_at if last and last.meter_at else row["started_at"]
            closed.append(await _close(conn, row["id"], meter, at, "Other", "superseded"))
        session = await conn.fetchrow(
            "INSERT INTO charging_sessions (id, station_id, connector_id, id_tag, status, meter_start_wh,"
            " started_at, reservation_id, traceparent) VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $8)"
            f" ON CONFLICT (id) DO NOTHING RETURNING {SESSION_COLUMNS}",
            start.transaction_id, start.station_id, start.connector_id, start.id_tag, start.meter_start_wh,
            start.started_at, start.reservation_id, start.traceparent,
        )
        if session is None:  # delivered before: the same start again
            session = returned(await conn.fetchrow(
                f"SELECT {SESSION_COLUMNS} FROM charging_sessions WHERE id = $1 FOR UPDATE", start.transaction_id
            ))
        changes.outbox.enqueue([_bill_event(c) for c in closed], traceparent)
        changes.closed.extend(closed)
        if session["status"] == "active":
            changes.started.append(session)
        return _jsonable(session)

    return work


def stop_work(stop: SessionStop, traceparent: str | None) -> SessionWork:
    """Close a session from a StopTransaction; answer (outcome, session)."""

    async def work(conn: Connection, changes: Changes) -> tuple[str, dict[str, Any] | None]:
        session = await conn.fetchrow(
            f"SELECT {SESSION_COLUMNS} FROM charging_sessions WHERE id = $1 FOR UPDATE", stop.transaction_id
        )
        if session is None or session["station_id"] != stop.station_id:
            await conn.execute(
                "INSERT INTO unmatched_stop_transactions (station_id, transaction_id, id_tag, meter_stop_wh,"
                " stopped_at, reason) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                stop.station_id, stop.transaction_id, stop.id_tag, stop.meter_stop_wh, stop.stopped_at,
                stop.reason,
            )
            log.warning("stop for unknown transaction recorded", station_id=stop.station_id,
                        transaction_id=stop.transaction_id)
            return "unmatched", None
        if session["closed_by"] == "station":
            return "already-stopped", _jsonable(session)  # the station repeated its StopTransaction
        # An open session, or one the platform closed when the station went quiet:
        # the station's own StopTransaction is the truth either way.
        key_suffix = "" if session["status"] == "active" else ":station"
        closed = await _close(conn, session["id"], stop.meter_stop_wh, stop.stopped_at, stop.reason,
                              "station", stop.id_tag)
        changes.outbox.enqueue([_bill_event(closed, key_suffix, stop.awaited_readings)], traceparent)
        changes.closed.append(closed)
        return "stopped", _jsonable(closed)

    return work


def reboot_work(station_id: str, abandoned: Sequence[AbandonedTransaction], traceparent: str | None) -> SessionWork:
    """Close the sessions a rebooted station abandoned; answer how many."""

    async def work(conn: Connection, changes: Changes) -> int:
        closed: list[asyncpg.Record] = []
        for item in abandoned:
            session = await conn.fetchrow(
                "SELECT id, meter_start_wh, started_at FROM charging_sessions"
                " WHERE id = $1 AND station_id = $2 AND status = 'active' FOR UPDATE",
                item.transaction_id, station_id,
            )
            if session is None:
                continue
            meter = item.meter_wh if item.meter_wh is not None else session["meter_start_wh"]
            closed.append(await _close(conn, session["id"], meter, item.meter_at or session["started_at"],
                                       "Reboot", "reboot"))
        changes.outbox.enqueue([_bill_event(c) for c in closed], traceparent)
        changes.closed.extend(closed)
        return len(closed)

    return work


class SessionRepository:
    def __init__(self, pool: asyncpg.Pool, redis: Redis) -> None:
        self._pool = pool
        self._redis = redis

    async def run(self, works: Sequence[SessionWork]) -> list[Any]:
        """Do the events' work in order, in one transaction (one commit, one fsync for all);
        return each one's answer. If any fails, none is done."""
        changes = Changes()
        async with self._pool.acquire() as conn, conn.transaction():
            answers = [await work(conn, changes) for work in works]
            await changes.outbox.write(conn)
            await self._cache_active(changes.started)
        uncached = []
        for session in changes.closed:
            if session["closed_by"] == "superseded":  # its connector's key now holds the session that closed it
                log.info("session closed by a new start on its connector", session_id=session["id"],
                         station_id=session["station_id"])
                continue
            if session["closed_by"] == "reboot":
                log.info("session closed after station reboot", session_id=session["id"],
                         station_id=session["station_id"])
            uncached.append(session)
        await self._uncache(uncached)
        return answers

    async def search(self, station_id: str | None, status: str | None, started_from: datetime | None,
                     started_to: datetime | None, limit: int, offset: int) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"SELECT {SESSION_COLUMNS} FROM charging_sessions WHERE ($1::text IS NULL OR station_id = $1)"
            " AND ($2::text IS NULL OR status = $2) AND ($3::timestamptz IS NULL OR started_at >= $3)"
            " AND ($4::timestamptz IS NULL OR started_at < $4) ORDER BY id DESC LIMIT $5 OFFSET $6",
            station_id, status, started_from, started_to, limit, offset,
        )
        return [_jsonable(r) for r in rows]

    async def get(self, session_id: int) -> dict[str, Any] | None:
        row = await self._pool.fetchrow(f"SELECT {SESSION_COLUMNS} FROM charging_sessions WHERE id = $1", session_id)
        return _jsonable(row) if row else None

    async def active(self, station_id: str) -> list[dict[str, Any]]:
        """Active sessions of a station from Redis; from PostgreSQL (re-caching) when cold."""
        try:
            keys = [key async for key in self._redis.scan_iter(match=active_key(station_id, "*"))]
            cached = await self._redis.mget(keys) if keys else []
            if cached and all(value is not None for value in cached):
                return sorted((orjson.loads(v) for v in cached if v is not None), key=lambda s: s["connector_id"])
        except RedisError as exc:
            log.warning("active session cache unavailable", error=repr(exc))
        rows = await self._pool.fetch(
            f"SELECT {SESSION_COLUMNS} FROM charging_sessions WHERE station_id = $1 AND status = 'active'"
            " ORDER BY connector_id", station_id,
        )
        await self._cache_active(rows)
        return [_jsonable(row) for row in rows]

    async def rebuild_cache(self) -> int:
        """Fill a cold (restarted) Redis from PostgreSQL."""
        rows = await self._pool.fetch(f"SELECT {SESSION_COLUMNS} FROM charging_sessions WHERE status = 'active'")
        await self._cache_active(rows)
        return len(rows)

    async def _cache_active(self, sessions: Sequence[asyncpg.Record]) -> None:
        """Cache the sessions as their connectors' active ones: one round trip for all."""
        if not sessions:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for session in sessions:
                    pipe.set(active_key(session["station_id"], session["connector_id"]),
                             orjson.dumps(_jsonable(session)))
                await pipe.execute()
        except RedisError as exc:  # the cache is rebuilt from PostgreSQL; never fail a session on it
            log.warning("active session cache unavailable", error=repr(exc))

    async def _uncache(self, sessions: Sequence[asyncpg.Record]) -> None:
        """Drop closed sessions from their connectors' keys, unless a newer session holds the
        key by now: two round trips for all."""
        if not sessions:
            return
        keys = [active_key(session["station_id"], session["connector_id"]) for session in sessions]
        try:
            cached = await self._redis.mget(keys)
            stale = [key for key, value, session in zip(keys, cached, sessions, strict=True)
                     if value is not None and orjson.loads(value)["id"] == session["id"]]
            if stale:
                await self._redis.delete(*stale)
        except RedisError as exc:
            log.warning("active session cache unavailable", error=repr(exc))


REPOSITORY = web.AppKey("sessions_repository", SessionRepository)
