"""The transactional outbox: work for another service survives that service being down.

A service writes its outbox events in the same PostgreSQL transaction as the state
change that caused them (so a reply to a station, or a 2xx to a caller, is only sent
once the follow-up work is durable), then the relay POSTs them to the destination, each
with its idempotency key and original trace context, retrying with exponential backoff
until the destination answers 2xx for it. Payloads travel as the JSON text they were
stored as. Receivers are idempotent, so at-least-once delivery is exactly-once in effect.

Events go many to a request (`event_batches`: one request per batch, not per event, on
both services' cores), and each gets its own answer. One relay per (source, destination)
delivers at a time, across replicas, under a transaction-scoped advisory lock. The
receiver handles the events of one station in order, one after the other, and different
stations' side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import aiohttp
import asyncpg
import orjson
from aiohttp import web

from .db import DB_POOL, Connection
from .event_batches import BATCH_PATH, retryable
from .httpclient import HTTP
from .logs import get_logger
from .metrics import DOWNSTREAM_SECONDS, OUTBOX_DELIVERIES
from .settings import SETTINGS, ServiceSettings
from .tracing import untraced

log = get_logger(__name__)

BATCH_SIZE = 500
# Payload bytes one round reads at most (beyond its first event): a backlog of MeterValues
# batches, hundreds of KB each, must not be read into memory 500 at a time.
ROUND_BYTES = 8 * 1024 * 1024
# Payload bytes per request, within the receivers' request size (1 MiB); a larger event
# (a MeterValues batch of hundreds of stations) goes alone, to telemetry, which takes it.
REQUEST_BYTES = 768 * 1024
POLL_INTERVAL = 1.0  # seconds; a wake-up from this process normally comes sooner


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    destination: str
    path: str
    idempotency_key: str
    payload: object  # an event of `outbox_events`, which orjson writes as it is


OutboxRow = tuple[str, str, str, str, str, str | None]


def outbox_row(source: str, event: OutboxEvent, traceparent: str | None) -> OutboxRow:
    """An event as the outbox stores it, its payload already JSON (encoded once, by orjson)."""
    return (source, event.destination, event.path, event.idempotency_key, orjson.dumps(event.payload).decode(),
            traceparent)


async def insert_outbox_rows(conn: Connection, rows: Sequence[OutboxRow]) -> None:
    """One statement for any number of events, in order; a repeated key is already queued."""
    if rows:
        await conn.execute(
            "INSERT INTO outbox (source, destination, path, idempotency_key, payload, traceparent)"
            " SELECT s, d, p, k, j::json, t FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
            " $5::text[], $6::text[]) WITH ORDINALITY AS u(s, d, p, k, j, t, n) ORDER BY n"
            " ON CONFLICT (idempotency_key) DO NOTHING",
            *(list(column) for column in zip(*rows, strict=True)),
        )


@dataclass(slots=True)
class PendingOutbox:
    """A transaction's events for other services, written in one statement before its commit."""

    source: str
    rows: list[OutboxRow] = field(default_factory=list)

    def enqueue(self, events: Iterable[OutboxEvent], traceparent: str | None) -> None:
        """Queue events; they are written in this order."""
        self.rows.extend(outbox_row(self.source, event, traceparent) for event in events)

    async def write(self, conn: Connection) -> None:
        await insert_outbox_rows(conn, self.rows)
        self.rows.clear()


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
                more = await self.deliver_pending(destination)
            except Exception as exc:
                if isinstance(exc, OSError | asyncpg.PostgresError | asyncpg.InterfaceError | TimeoutError):
                    log.warning("outbox relay error", destination=destination, error=repr(exc))
                elif not isinstance(exc, _Retry):
                    # Whatever else (asyncpg's InternalClientError after a database crash, a bug):
                    # a relay that died here would leave every later event undelivered, silently.
                    log.exception("outbox relay error", destination=destination)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._settings.outbox_retry_max)
                continue
            delay = self._settings.outbox_retry_min
            if not more:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
                # that comes in the same turn as the wakeup, and the relay would never stop
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(POLL_INTERVAL):
                        await wakeup.wait()

    async def deliver_pending(self, destination: str) -> bool:
        """Deliver one round of events in order; True when more may be waiting (the round
        was full, by count or by bytes)."""
        async with self._pool.acquire() as conn, conn.transaction():
            locked = await conn.fetchval(
                "SELECT pg_try_advisory_xact_lock(hashtext($1))", f"outbox:{self._source}:{destination}"
            )
            if not locked:
                return False
            # The payload is sent on as the JSON text it was stored as, not decoded.
            rows = await conn.fetch(
                "SELECT id, path, idempotency_key, payload, traceparent, read FROM ("
                " SELECT *, sum(octet_length(payload)) OVER (ORDER BY id) AS read FROM ("
                " SELECT id, path, idempotency_key, payload::text AS payload, traceparent FROM outbox"
                " WHERE source = $1 AND destination = $2 AND dead_at IS NULL ORDER BY id LIMIT $3) oldest) o"
                " WHERE read - octet_length(payload) < $4 ORDER BY id",
                self._source,
                destination,
                BATCH_SIZE,
                ROUND_BYTES,
            )
            # cut short by bytes exactly when the last row read reached the budget
            full = len(rows) == BATCH_SIZE or (bool(rows) and rows[-1]["read"] >= ROUND_BYTES)
            delivered: list[int] = []
            settled = True
            try:
                for chunk in _chunks(rows):  # in order: after a chunk with an unsettled event, none
                    if not await self._deliver_chunk(conn, destination, chunk, delivered):
                        settled = False
                        break
            finally:
                if delivered:
                    await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", delivered)
        if not settled:  # what was settled is committed; the rest after a back-off
            raise _Retry
        return full

    async def _deliver_chunk(self, conn: Connection, destination: str, rows: Sequence[asyncpg.Record],
                             delivered: list[int]) -> bool:
        """One request for `rows`; settle each by its own answer. False when one is left
        for a retry (the receiver failed it for now, or did not get to it behind such a one
        of its station)."""
        started = time.perf_counter()
        try:
            with untraced():  # a batch is no one event's; each carries its own trace context
                async with self._http.post(self._destinations[destination] + BATCH_PATH, data=_batch_body(rows),
                                           headers={"Content-Type": "application/json"}) as response:
                    status = response.status
                    body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            DOWNSTREAM_SECONDS.labels(destination, BATCH_PATH, "unreachable").observe(time.perf_counter() - started)
            await self._failed(destination, rows, None, repr(exc))
            return False
        DOWNSTREAM_SECONDS.labels(destination, BATCH_PATH, "ok" if status < 300 else "retry").observe(
            time.perf_counter() - started)
        if status >= 300:  # the batch itself was refused: a receiver starting or failing
            await self._failed(destination, rows, status, body[:500].decode(errors="replace"))
            return False
        retry = False
        for row, result in zip(rows, orjson.loads(body)["results"], strict=True):
            if result["status"] is None:
                retry = True  # behind a failed event of its station: next round
            elif result["status"] < 300:
                delivered.append(row["id"])
                OUTBOX_DELIVERIES.labels(destination, row["path"], "ok").inc()
            elif await self._refused(conn, destination, row, result["status"], result["body"]):
                OUTBOX_DELIVERIES.labels(destination, row["path"], "rejected").inc()
            else:
                OUTBOX_DELIVERIES.labels(destination, row["path"], "retry").inc()
                retry = True
        return not retry

    async def _refused(self, conn: Connection, destination: str, row: asyncpg.Record, status: int,
                       error: str) -> bool:
        """An event the receiver answered with an error: True when settled for good (dead)."""
        await self._failed(destination, [row], status, error[:500])
        if retryable(status):
            return False
        # The receiver says the event itself is invalid: retrying cannot help. Keep it
        # for the operator and let the events behind it through.
        await conn.execute("UPDATE outbox SET dead_at = now() WHERE id = $1", row["id"])
        log.error("outbox event rejected", destination=destination, path=row["path"],
                  idempotency_key=row["idempotency_key"], status=status)
        return True

    async def _failed(self, destination: str, rows: Sequence[asyncpg.Record], status: int | None,
                      error: str) -> None:
        """Logged once per event path, with how many of the events failed alike."""
        for path in dict.fromkeys(row["path"] for row in rows):
            keys = [row["idempotency_key"] for row in rows if row["path"] == path]
            log.warning(f"{destination} client returned non-success", path=path, status=status, error=error,
                        idempotency_key=keys[0], events=len(keys))
            if failure_event := self._failure_events.get(path):
                log.warning(failure_event, idempotency_key=keys[0], status=status, error=error, events=len(keys))
        # Recorded outside the delivery transaction: it must survive the rollback.
        await self._pool.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1::bigint[])",
            [row["id"] for row in rows], error,
        )


OUTBOX = web.AppKey("outbox", OutboxRelay)


def _chunks(rows: Sequence[asyncpg.Record]) -> Iterator[Sequence[asyncpg.Record]]:
    """The rows in order, as requests of at most REQUEST_BYTES of payload (at least one row each)."""
    start, size = 0, 0
    for end, row in enumerate(rows):
        if end > start and size + len(row["payload"]) > REQUEST_BYTES:
            yield rows[start:end]
            start, size = end, 0
        size += len(row["payload"])
    if start < len(rows):
        yield rows[start:]


def _batch_body(rows: Sequence[asyncpg.Record]) -> bytes:
    """`{"events": [...]}` with each payload spliced in as the JSON text it was stored as."""
    return b'{"events":[' + b",".join(
        b'{"path":%b,"idempotency_key":%b,"traceparent":%b,"payload":%b}' % (
            orjson.dumps(row["path"]), orjson.dumps(row["idempotency_key"]), orjson.dumps(row["traceparent"]),
            row["payload"].encode())
        for row in rows) + b"]}"


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
