"""Prometheus metrics: what every service exposes at `/metrics`.

Counters and histograms are updated where things happen; the gauges that describe
state someone else owns (the database pool, the outbox table) are read when Prometheus
scrapes, so no background task keeps them fresh and nothing is stale.
"""

from __future__ import annotations

import contextlib

import asyncpg
from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from .db import DB_POOL
from .settings import SETTINGS

DOWNSTREAM_SECONDS = Histogram(
    "chargeplane_downstream_request_duration_seconds",
    "Latency of a call from one service to another (outbox deliveries: a batch of events each), by outcome",
    ["destination", "path", "outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
OUTBOX_DELIVERIES = Counter(
    "chargeplane_outbox_deliveries_total",
    "Outbox events sent, by path and what the receiver made of each: ok, retry (later), rejected (dead)",
    ["destination", "path", "outcome"],
)
OUTBOX_PENDING = Gauge(
    "chargeplane_outbox_pending_events", "Outbox events not delivered yet (dead letters excluded)",
    ["source", "destination"],
)
OUTBOX_OLDEST_AGE = Gauge(
    "chargeplane_outbox_oldest_event_age_seconds", "Age of the oldest undelivered outbox event",
    ["source", "destination"],
)
OUTBOX_DEAD = Gauge(
    "chargeplane_outbox_dead_events", "Outbox events the receiver rejected, kept for the operator",
    ["source", "destination"],
)
DB_POOL_CONNECTIONS = Gauge(
    "chargeplane_db_pool_connections", "PostgreSQL pool connections by state", ["service", "state"],
)
DB_POOL_MAX = Gauge("chargeplane_db_pool_max_connections", "PostgreSQL pool size limit", ["service"])

# (source, destination) pairs seen in the outbox, so a drained one is reported as 0
_outbox_destinations: set[tuple[str, str]] = set()
_OUTBOX_SQL = (
    "SELECT destination, count(*) FILTER (WHERE dead_at IS NULL) AS pending,"
    " count(*) FILTER (WHERE dead_at IS NOT NULL) AS dead,"
    " coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE dead_at IS NULL)), 0) AS oldest"
    " FROM outbox WHERE source = $1 GROUP BY destination"
)


async def _read_state(app: web.Application) -> None:
    settings = app[SETTINGS]
    service = settings.service_name
    pool = app.get(DB_POOL)
    if pool is None:  # the api-gateway keeps no database
        return
    size, idle = pool.get_size(), pool.get_idle_size()
    DB_POOL_CONNECTIONS.labels(service, "in_use").set(size - idle)
    DB_POOL_CONNECTIONS.labels(service, "idle").set(idle)
    DB_POOL_MAX.labels(service).set(pool.get_max_size())
    rows = {row["destination"]: row for row in await pool.fetch(_OUTBOX_SQL, service)}
    _outbox_destinations.update((service, destination) for destination in rows)
    for source, destination in _outbox_destinations:
        if source != service:
            continue
        row = rows.get(destination)  # a drained destination reads 0, not its last depth
        OUTBOX_PENDING.labels(source, destination).set(row["pending"] if row else 0)
        OUTBOX_DEAD.labels(source, destination).set(row["dead"] if row else 0)
        OUTBOX_OLDEST_AGE.labels(source, destination).set(float(row["oldest"]) if row else 0.0)


async def metrics_view(request: web.Request) -> web.Response:
    """The Prometheus text exposition; the database gauges are skipped while it is away."""
    with contextlib.suppress(OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        await _read_state(request.app)
    return exposition(REGISTRY)


def exposition(registry: CollectorRegistry) -> web.Response:
    """`registry` in Prometheus' text format (the services' registry, or the operator's own)."""
    response = web.Response(body=generate_latest(registry))
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response
