"""The transactional outbox: work for another service survives that service being down.

A service writes its outbox events in the same PostgreSQL transaction as the state
change that caused them (so a reply to a station, or a 2xx to a caller, is only sent
once the follow-up work is durable), then the relay POSTs them to the destination, with
an `Idempotency-Key` header and the original trace context, retrying with exponential
backoff until the destination answers 2xx. The payload travels as the JSON text it was
stored as. Receivers are idempotent, so at-least-once delivery is exactly-once in effect.

One relay per (source, destination) delivers at a time, across replicas, under a
transaction-scoped advisory lock. The events of one station are delivered in order, one
after the other; the events of different stations go out concurrently (a destination
that takes a few milliseconds per event would otherwise cap the whole platform).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import orjson
from aiohttp import web

from .keys import DB_POOL, HTTP, OUTBOX, SETTINGS
from .logs import get_logger
from .metrics import DOWNSTREAM_SECONDS
from .settings import ServiceSettings
from .tracing import attached_traceparent, traceparent_sampled, untraced

log = get_logger(__name__)

BATCH_SIZE = 100
CONCURRENT_STATIONS = 16  # requests in flight to one destination
ONE_STATION_EVENT_MAX = 64 * 1024  # bytes; an event about one station is far smaller
POLL_INTERVAL = 1.0  # seconds; a wake-up from this process normally comes sooner


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    destination: str
    path: str
    idempotency_key: str
    payload: Mapping[str, Any]


OutboxRow = tuple[str, str, str, str, str, str | None]


def outbox_row(source: str, event: OutboxEvent, traceparent: str | None) -> OutboxRow:
    """An event as the outbox stores it, its payload already JSON (encoded once, by orjson)."""
    return (source, event.destination, event.path, event.idempotency_key, orjson.dumps(event.payload).decode(),
            traceparent)


async def insert_outbox_rows(conn: asyncpg.Connection, rows: Sequence[OutboxRow]) -> None:
    """One statement for any number of events, in order; a repeated key is already queued."""
    if rows:
        await conn.execute(
            "INSERT INTO outbox (source, destination, path, idempotency_key, payload, traceparent)"
            " SELECT s, d, p, k, j::json, t FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
            " $5::text[], $6::text[]) WITH ORDINALITY AS u(s, d, p, k, j, t, n) ORDER BY n"
            " ON CONFLICT (idempotency_key) DO NOTHING",
            *(list(column) for column in zip(*rows, strict=True)),
        )


async def enqueue(
    conn: asyncpg.Connection, source: str, events: Iterable[OutboxEvent], traceparent: str | None
) -> None:
    """Write events inside the caller's transaction."""
    await insert_outbox_rows(conn, [outbox_row(source, event, traceparent) for event in events])


class _Retry(Exception):
    """The destination could not take the event now; try the batch again later."""


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        http: aiohttp.ClientSession,
        settings: ServiceSettings,
        destinations: Mapping[str, str],
        failure_events: Mapping[str, str] | None = None,
    ) -> None:
        self._pool = pool
        self._http = http
        self._settings = settings
        self._source = settings.service_name
        self._destinations = dict(destinations)
        # path -> the log event operators grep for when that delivery fails
        self._failure_events = dict(failure_events or {})
        self._wakeups = {name: asyncio.Event() for name in destinations}

    def wake(self) -> None:
        """New events were committed: deliver now rather than at the next poll."""
        for event in self._wakeups.values():
            event.set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for name in self._destinations:
                group.create_task(self._deliver_forever(name))

    async def _deliver_forever(self, destination: str) -> None:
        delay = self._settings.outbox_retry_min
        wakeup = self._wakeups[destination]
        while True:
            wakeup.clear()
            try:
                delivered = await self.deliver_pending(destination)
            except (_Retry, OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                if not isinstance(exc, _Retry):
                    log.warning("outbox relay error", destination=destination, error=repr(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._settings.outbox_retry_max)
                continue
            delay = self._settings.outbox_retry_min
            if delivered < BATCH_SIZE:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), POLL_INTERVAL)

    async def deliver_pending(self, destination: str) -> int:
        """Deliver one batch in order; return how many events were settled."""
        async with self._pool.acquire() as conn, conn.transaction():
            locked = await conn.fetchval(
                "SELECT pg_try_advisory_xact_lock(hashtext($1))", f"outbox:{self._source}:{destination}"
            )
            if not locked:
                return 0
            # The payload is sent on as the JSON text it was stored as, not decoded.
            rows = await conn.fetch(
                "SELECT id, path, idempotency_key, payload::text AS payload, traceparent FROM outbox"
                " WHERE source = $1 AND destination = $2 AND dead_at IS NULL ORDER BY id LIMIT $3",
                self._source,
                destination,
                BATCH_SIZE,
            )
            delivered: list[int] = []
            try:
                await self._deliver_by_station(conn, destination, rows, delivered)
            finally:
                if delivered:
                    await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", delivered)
            return len(rows)

    async def _deliver_by_station(self, conn: asyncpg.Connection, destination: str,
                                  rows: Sequence[asyncpg.Record], delivered: list[int]) -> None:
        """Each station's events in order; stations side by side. A station whose event
        failed sends nothing more this round; the others carry on; then the round retries."""
        by_station: dict[object, list[asyncpg.Record]] = {}
        for row in rows:
            by_station.setdefault(_station_of(row["payload"]), []).append(row)
        lock = asyncio.Lock()  # the delivery connection takes one statement at a time
        slots = asyncio.Semaphore(CONCURRENT_STATIONS)

        async def deliver(station_rows: list[asyncpg.Record]) -> None:
            async with slots:
                for row in station_rows:
                    if await self._post(conn, lock, destination, row):
                        delivered.append(row["id"])

        outcomes = await asyncio.gather(*(deliver(chain) for chain in by_station.values()), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _post(self, conn: asyncpg.Connection, lock: asyncio.Lock, destination: str,
                    row: asyncpg.Record) -> bool:
        """True when delivered, False when the receiver rejected it for good."""
        path = row["path"]
        headers = {"Idempotency-Key": row["idempotency_key"], "Content-Type": "application/json"}
        started = time.perf_counter()
        with _delivery_trace(row["traceparent"], headers):
            try:
                async with self._http.post(self._destinations[destination] + path, data=row["payload"].encode(),
                                           headers=headers) as response:
                    status = response.status
                    body = await response.text()
            except (aiohttp.ClientError, TimeoutError) as exc:
                DOWNSTREAM_SECONDS.labels(destination, path, "unreachable").observe(time.perf_counter() - started)
                await self._failed(destination, row, None, repr(exc))
                raise _Retry from exc
        outcome = "ok" if status < 300 else "retry" if _retryable(status) else "rejected"
        DOWNSTREAM_SECONDS.labels(destination, path, outcome).observe(time.perf_counter() - started)
        if status < 300:
            return True
        await self._failed(destination, row, status, body[:500])
        if _retryable(status):
            raise _Retry
        # The receiver says the event itself is invalid: retrying cannot help. Keep it
        # for the operator and let the events behind it through.
        async with lock:
            await conn.execute("UPDATE outbox SET dead_at = now() WHERE id = $1", row["id"])
        log.error("outbox event rejected", destination=destination, path=path,
                  idempotency_key=row["idempotency_key"], status=status)
        return False

    async def _failed(self, destination: str, row: asyncpg.Record, status: int | None, error: str) -> None:
        log.warning(f"{destination} client returned non-success", path=row["path"], status=status,
                    error=error, idempotency_key=row["idempotency_key"])
        failure_event = self._failure_events.get(row["path"])
        if failure_event:
            log.warning(failure_event, idempotency_key=row["idempotency_key"], status=status, error=error)
        # Recorded outside the delivery transaction: it must survive the rollback.
        await self._pool.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1", row["id"], error
        )


def _delivery_trace(traceparent: str | None, headers: dict[str, str]) -> AbstractContextManager[None]:
    """A sampled event's delivery is a client span of its trace. An unsampled one records
    no span anywhere (parent-based sampling), so its context goes on as the header it
    is, without the client instrumentation's work; an event of no trace starts none."""
    if traceparent and traceparent_sampled(traceparent):
        return attached_traceparent(traceparent)
    if traceparent:
        headers["traceparent"] = traceparent
    return untraced()


def _station_of(payload: str) -> object:
    """The station an event is about: its events keep their order. An event about no
    one station (a batch of many, megabytes not worth parsing) keeps its order with the
    other such events."""
    if len(payload) > ONE_STATION_EVENT_MAX:
        return None
    body = orjson.loads(payload)
    return body.get("station_id") if isinstance(body, dict) else None


def _retryable(status: int) -> bool:
    return status in (408, 425, 429) or status >= 500


def outbox_context(
    destinations: Mapping[str, str], failure_events: Mapping[str, str] | None = None
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that runs the service's relay in the background."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        relay = OutboxRelay(app[DB_POOL], app[HTTP], app[SETTINGS], destinations, failure_events)
        app[OUTBOX] = relay
        with untraced():  # its statements serve many events; each delivery joins its own event's trace
            task = asyncio.create_task(relay.run(), name="outbox-relay")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return context
