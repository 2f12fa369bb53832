"""The operator's own Prometheus metrics, served at /metrics on `metrics_port`: how long its
handlers and the namespaces' rounds take, how often they wait and retry or fail, and how many
resources it manages."""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from typing import Any, ParamSpec, TypeVar

import kopf
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from chargeplane.common.metrics import exposition

REGISTRY = CollectorRegistry()
HANDLER_SECONDS = Histogram(
    "chargeplane_operator_handler_seconds", "How long a handler or a namespace's round took", ["handler"],
    registry=REGISTRY, buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
HANDLER_OUTCOMES = Counter(
    "chargeplane_operator_handler_outcomes_total",
    "Handler runs by outcome: done, retry (it waits for something and runs again), failed (for good), error",
    ["handler", "outcome"], registry=REGISTRY)
RESOURCES = Gauge("chargeplane_operator_resources", "Resources the operator manages, by kind", ["kind"],
                  registry=REGISTRY)

P = ParamSpec("P")
R = TypeVar("R")


def measured(handler: str) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Time `handler` and count how it ended."""
    def decorate(function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(function)
        async def timed(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            outcome = "error"
            try:
                result = await function(*args, **kwargs)
                outcome = "done"
                return result
            except kopf.TemporaryError:
                outcome = "retry"
                raise
            except kopf.PermanentError:
                outcome = "failed"
                raise
            finally:
                HANDLER_SECONDS.labels(handler).observe(time.perf_counter() - started)
                HANDLER_OUTCOMES.labels(handler, outcome).inc()
        return timed
    return decorate


def count_resources(station_index: Mapping[str, Collection[Any]], tariff_index: Mapping[str, Collection[Any]],
                    platforms: int) -> None:
    RESOURCES.labels("ChargingStation").set(sum(len(v) for v in station_index.values()))
    RESOURCES.labels("Tariff").set(sum(len(v) for v in tariff_index.values()))
    RESOURCES.labels("Platform").set(platforms)


async def _metrics(_: web.Request) -> web.Response:
    return exposition(REGISTRY)


@asynccontextmanager
async def serving_metrics(port: int) -> AsyncIterator[None]:
    """/metrics on all addresses at `port` (the chart's scrape annotations and NetworkPolicy name it)."""
    app = web.Application()
    app.router.add_get("/metrics", _metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    try:
        yield
    finally:
        await runner.cleanup()
