"""The transactional outbox: work for another service survives that service being down.

A service writes its outbox events in the same PostgreSQL transaction as the state
change that caused them (so a reply to a station, or a 2xx to a caller, is only sent
once the follow-up work is durable), then the relay POSTs them to the destination in
order, with an `Idempotency-Key` header and the original trace context, retrying with
exponential backoff until the destination answers 2xx. Events a receiver takes in bulk
(meter values) go many to a request, to its batch endpoint, which answers per event. Receivers are idempotent, so
at-least-once delivery is exactly-once in effect.

One relay per (source, destination) delivers at a time, across replicas, under a
transaction-scoped advisory lock, which keeps the events of one station in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import orjson
from aiohttp import web
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from .keys import DB_POOL, HTTP, OUTBOX, SETTINGS
from .logs import get_logger
from .metrics import DOWNSTREAM_SECONDS
from .settings import ServiceSettings
from .tracing import attached_traceparent

log = get_logger(__name__)
tracer = trace.get_tracer("chargeplane.outbox")

BATCH_SIZE = 500
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
            " SELECT s, d, p, k, j::jsonb, t FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
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
        batch_paths: Mapping[str, str] | None = None,
    ) -> None:
        self._pool = pool
        self._http = http
        self._settings = settings
        self._source = settings.service_name
        self._destinations = dict(destinations)
        # path -> the log event operators grep for when that delivery fails
        self._failure_events = dict(failure_events or {})
        # event path -> the receiver's endpoint that takes many such events in one request
        self._batch_paths = dict(batch_paths or {})
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
            # The payload stays the JSON text it was stored as: it is sent on, not read.
            rows = await conn.fetch(
                "SELECT id, path, idempotency_key, payload::text AS payload, traceparent FROM outbox"
                " WHERE source = $1 AND destination = $2 AND dead_at IS NULL ORDER BY id LIMIT $3",
                self._source,
                destination,
                BATCH_SIZE,
            )
            delivered: list[int] = []
            try:
                for run in _runs_by_path(rows, self._batch_paths):
                    if run[0]["path"] in self._batch_paths:
                        delivered.extend(await self._post_batch(conn, destination, run))
                    elif await self._post(conn, destination, run[0]):
                        delivered.append(run[0]["id"])
            finally:
                if delivered:
                    await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", delivered)
            return len(rows)

    async def _send(self, destination: str, path: str, body: bytes, headers: dict[str, str],
                    rows: Sequence[asyncpg.Record]) -> tuple[int, bytes]:
        """POST, timed for the downstream latency histogram; a transport failure is retried."""
        started = time.perf_counter()
        try:
            async with self._http.post(self._destinations[destination] + path, data=body,
                                       headers={"Content-Type": "application/json", **headers}) as response:
                status, answer = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            DOWNSTREAM_SECONDS.labels(destination, path, "unreachable").observe(time.perf_counter() - started)
            await self._failed(destination, rows, None, repr(exc))
            raise _Retry from exc
        outcome = "ok" if status < 300 else "retry" if _retryable(status) else "rejected"
        DOWNSTREAM_SECONDS.labels(destination, path, outcome).observe(time.perf_counter() - started)
        return status, answer

    async def _post(self, conn: asyncpg.Connection, destination: str, row: asyncpg.Record) -> bool:
        """True when delivered, False when the receiver rejected it for good."""
        with attached_traceparent(row["traceparent"]):
            status, body = await self._send(destination, row["path"], row["payload"].encode(),
                                            {"Idempotency-Key": row["idempotency_key"]}, [row])
        if status < 300:
            return True
        await self._failed(destination, [row], status, body[:500].decode(errors="replace"))
        if _retryable(status):
            raise _Retry
        await self._reject(conn, destination, row, status)
        return False

    async def _post_batch(self, conn: asyncpg.Connection, destination: str,
                          rows: Sequence[asyncpg.Record]) -> list[int]:
        """Many events in one request to the receiver's batch endpoint, which answers for
        each; return the ids delivered. One span for the request, linked to the events' traces."""
        path = self._batch_paths[rows[0]["path"]]
        body = b'{"events":[' + b",".join(
            b'{"idempotency_key":' + orjson.dumps(row["idempotency_key"]) + b',"payload":'
            + row["payload"].encode() + b"}" for row in rows
        ) + b"]}"
        with tracer.start_as_current_span(f"outbox deliver {path}", context=otel_context.Context(),
                                          attributes={"outbox.events": len(rows)}) as span:
            if span.is_recording():
                for traceparent in {row["traceparent"] for row in rows if row["traceparent"]}:
                    span.add_link(trace.get_current_span(propagate.extract({"traceparent": traceparent}))
                                  .get_span_context())
            status, answer = await self._send(destination, path, body, {}, rows)
        if status >= 300:
            # The batch endpoint answers per event; refusing the whole request means it is
            # down or overloaded (or we are wrong about its body), never that an event is bad.
            await self._failed(destination, rows, status, answer[:500].decode(errors="replace"))
            raise _Retry
        results = {result["idempotency_key"]: result for result in orjson.loads(answer)["results"]}
        delivered = []
        for row in rows:
            result = results.get(row["idempotency_key"])
            if result is not None and result["status"] == "stored":
                delivered.append(row["id"])
            elif result is not None and result["status"] == "rejected":
                await self._failed(destination, [row], 422, str(result.get("error", ""))[:500])
                await self._reject(conn, destination, row, 422)
        return delivered

    async def _reject(self, conn: asyncpg.Connection, destination: str, row: asyncpg.Record, status: int) -> None:
        # The receiver says the event itself is invalid: retrying cannot help. Keep it
        # for the operator and let the events behind it through.
        await conn.execute("UPDATE outbox SET dead_at = now() WHERE id = $1", row["id"])
        log.error("outbox event rejected", destination=destination, path=row["path"],
                  idempotency_key=row["idempotency_key"], status=status)

    async def _failed(self, destination: str, rows: Sequence[asyncpg.Record], status: int | None,
                      error: str) -> None:
        path = rows[0]["path"]
        keys = [row["idempotency_key"] for row in rows]
        log.warning(f"{destination} client returned non-success", path=path, status=status,
                    error=error, idempotency_key=keys[0], events=len(rows))
        failure_event = self._failure_events.get(path)
        if failure_event:
            log.warning(failure_event, idempotency_key=keys[0], status=status, error=error, events=len(rows))
        # Recorded outside the delivery transaction: it must survive the rollback.
        await self._pool.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1::bigint[])",
            [row["id"] for row in rows], error,
        )


def _retryable(status: int) -> bool:
    return status in (408, 425, 429) or status >= 500


def _runs_by_path(rows: Sequence[asyncpg.Record], batch_paths: Mapping[str, str]) -> list[list[asyncpg.Record]]:
    """Consecutive events of one batchable path form one run; any other event is a run of
    its own. Runs are delivered in order, so a destination sees its events in order."""
    runs: list[list[asyncpg.Record]] = []
    for row in rows:
        if runs and row["path"] in batch_paths and runs[-1][0]["path"] == row["path"]:
            runs[-1].append(row)
        else:
            runs.append([row])
    return runs


def outbox_context(
    destinations: Mapping[str, str], failure_events: Mapping[str, str] | None = None,
    batch_paths: Mapping[str, str] | None = None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that runs the service's relay in the background."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        relay = OutboxRelay(app[DB_POOL], app[HTTP], app[SETTINGS], destinations, failure_events, batch_paths)
        app[OUTBOX] = relay
        task = asyncio.create_task(relay.run(), name="outbox-relay")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return context
