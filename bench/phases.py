"""The benchmark's measurements, one function per figure; `run_benchmark` runs them all.

Every throughput is reported twice: as achieved, and per second of the measured
process's own CPU time (`capacity`). On this 2-core machine the load generators share
their core with PostgreSQL and the downstream services, so a server below 100 % of its
core was not given more work, not unable to take it; capacity is what its core does.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from .fleet import Fleet
from .platform import (
    HARNESS_CORE,
    BenchPlatform,
    Pinned,
    SpanSink,
    cpu_seconds,
    metric_sum,
    otlp_sink,
    raise_fd_limit,
    rss_bytes,
    scrape,
)
from .traffic import METER_ONLY, MIX

PREFIX = "BENCH-"
FD_HEADROOM = 600  # the gateway's own files, pool connections and sockets to other services
DRAIN_WAIT_S = 180.0  # the longest the harness waits for sessions, billing and telemetry to catch up


@dataclass(frozen=True)
class BenchConfig:
    stations: int = 2000  # throughput, latency and telemetry phases
    load_generators: int = 2
    warmup_s: float = 3.0
    measure_s: float = 10.0
    sweep: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
    sweep_s: float = 5.0
    half_load_s: float = 10.0
    telemetry_s: float = 10.0
    memory_points: tuple[int, ...] = (1_000, 10_000, 50_000)
    storm_stations: int = 10_000
    profile_s: float = 10.0
    settle_s: float = 3.0  # idle time before memory is read, and for late commits to land


FULL = BenchConfig()
# `make test`: every phase, a few stations, about ten seconds; it proves the harness, not a speed.
SMOKE = BenchConfig(stations=24, load_generators=1, warmup_s=0.2, measure_s=0.6, sweep=(0.5, 1.0), sweep_s=0.4,
                    half_load_s=1.0, telemetry_s=0.5, memory_points=(20,), storm_stations=20, profile_s=0.0,
                    settle_s=0.3)

TRACING_OFF = {"OTEL_SDK_DISABLED": "true"}


def percentile(ordered: Sequence[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def tracing_env(sink: SpanSink, ratio: float) -> dict[str, str]:
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.url, "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": str(ratio)}


async def closed_loop(target: Pinned, fleet: Fleet, seconds: float, script: str = MIX) -> dict[str, Any]:
    """Every station as fast as it is answered: the most the target takes."""
    target_cpu, fleet_cpu = cpu_seconds(target.pid), sum(cpu_seconds(p) for p in fleet.pids)
    run = await fleet.run(seconds, None, script)
    target_share = (cpu_seconds(target.pid) - target_cpu) / run["seconds"]
    fleet_share = (sum(cpu_seconds(p) for p in fleet.pids) - fleet_cpu) / run["seconds"]
    throughput = run["results"] / run["seconds"]
    return {
        "throughput": throughput, "capacity": throughput / max(target_share, 1e-9),
        "cpu_share": target_share, "load_generator_cpu_share": fleet_share, "answered": run["results"],
        "errors": run["errors"],
        "p50_ms": percentile(run["latencies_us"], 0.5) / 1000, "p99_ms": percentile(run["latencies_us"], 0.99) / 1000,
    }


async def equal_load(target: Pinned, fleet: Fleet, rate: float, seconds: float) -> dict[str, Any]:
    """Open loop at `rate`: the target's CPU per answered message. Batches (of commits, relay
    rounds, socket reads) grow with the load, so CPU per message is comparable between
    configurations only at the same load; a closed loop's is not, its load being set by the
    other core."""
    cpu = cpu_seconds(target.pid)
    run = await fleet.run(seconds, rate)
    return {"offered": rate, "throughput": run["results"] / run["seconds"], "answered": run["results"],
            "cpu_us_per_message": (cpu_seconds(target.pid) - cpu) / max(run["results"], 1) * 1e6,
            "errors": run["errors"]}


async def sweep(fleet: Fleet, fractions: Sequence[float], ceiling: float, seconds: float) -> list[dict[str, Any]]:
    """Open loop at fractions of the closed-loop throughput: latency against offered load."""
    points = []
    for fraction in fractions:
        run = await fleet.run(seconds, fraction * ceiling)
        points.append({"offered": fraction * ceiling, "throughput": run["results"] / run["seconds"],
                       "p50_ms": percentile(run["latencies_us"], 0.5) / 1000,
                       "p99_ms": percentile(run["latencies_us"], 0.99) / 1000, "behind": run["behind"],
                       "errors": run["errors"]})
    return points


async def measure_server(platform: BenchPlatform, target: Pinned, config: BenchConfig) -> dict[str, Any]:
    fleet = await Fleet.start(target.ws_url, PREFIX, 1, config.stations, config.load_generators)
    try:
        connected = await fleet.connect()
        await fleet.run(config.warmup_s)
        best = await closed_loop(target, fleet, config.measure_s)
        best["connected"] = connected["connected"]
        best["sweep"] = await sweep(fleet, config.sweep, best["throughput"], config.sweep_s)
        return best
    finally:
        await fleet.quit()


async def commit_latencies(platform: BenchPlatform, fleet: Fleet, rate: float, seconds: float,
                           settle_s: float) -> dict[str, Any]:
    """At `rate`: CALL -> CALLRESULT, StartTransaction -> charging_sessions row committed,
    StopTransaction -> billing_transactions row committed (PostgreSQL commit timestamps)."""
    conn = await asyncpg.connect(platform.database_url)
    committed: dict[int, float] = {}
    stop_polling = asyncio.Event()

    async def poll_sessions() -> None:
        # A session row is rewritten when it stops: its first commit is seen while it is
        # active. Each poll asks only for rows written since the previous poll's snapshot
        # horizon (every older transaction had ended then, so its rows were seen), not for
        # every active session: the harness shares its core with what it measures.
        horizon = 0
        while not stop_polling.is_set():
            newer = await conn.fetchval("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            for row in await conn.fetch(
                "SELECT id, extract(epoch FROM pg_xact_commit_timestamp(xmin))::float8 AS at"
                " FROM charging_sessions WHERE status = 'active' AND xmin::text::bigint >= $1", horizon
            ):
                committed.setdefault(row["id"], row["at"])
            horizon = newer
            await asyncio.sleep(0.05)

    try:
        poller = asyncio.create_task(poll_sessions())
        run = await fleet.run(seconds, rate)
        await asyncio.sleep(settle_s)
        await wait_drained(platform, DRAIN_WAIT_S)  # a start still queued when the run ends is timed too
        stop_polling.set()
        await poller
        stops = dict(run["stops"])
        billed = {row["session_id"]: row["at"] for row in await conn.fetch(
            "SELECT session_id, extract(epoch FROM pg_xact_commit_timestamp(xmin))::float8 AS at"
            " FROM billing_transactions WHERE session_id = ANY($1::bigint[])", list(stops))}
    finally:
        await conn.close()
    start_ms = sorted((committed[tx] - sent) * 1000 for tx, sent in run["starts"] if tx in committed)
    bill_ms = sorted((billed[tx] - sent) * 1000 for tx, sent in stops.items() if tx in billed)
    return {
        "offered": rate, "throughput": run["results"] / run["seconds"],
        "call_p50_ms": percentile(run["latencies_us"], 0.5) / 1000,
        "call_p99_ms": percentile(run["latencies_us"], 0.99) / 1000,
        "session_row_p50_ms": percentile(start_ms, 0.5), "session_row_p99_ms": percentile(start_ms, 0.99),
        "sessions_timed": len(start_ms), "sessions_started": len(run["starts"]),
        "bill_p50_ms": percentile(bill_ms, 0.5), "bill_p99_ms": percentile(bill_ms, 0.99),
        "bills_timed": len(bill_ms), "sessions_stopped": len(stops), "errors": run["errors"],
    }


async def wait_drained(platform: BenchPlatform, within_s: float) -> float:
    """Seconds until every outbox is empty (or `within_s`); the outbox is polled, it
    signals nothing to an outside observer."""
    started = time.monotonic()
    while time.monotonic() - started < within_s:
        if not await platform.outbox_depth():
            break
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def telemetry_ingest(platform: BenchPlatform, fleet: Fleet, seconds: float) -> dict[str, Any]:
    """MeterValues only, closed loop; sampled values stored per second, from the first
    MeterValues sent until the last value is in telemetry_data (the outbox drained)."""
    telemetry = f"http://127.0.0.1:{platform.ports['telemetry']}"
    name = "chargeplane_telemetry_sampled_values_stored_total"
    before = metric_sum(scrape(telemetry), name)
    started = time.monotonic()
    run = await fleet.run(seconds, None, METER_ONLY)
    drain = await wait_drained(platform, DRAIN_WAIT_S)
    elapsed = time.monotonic() - started
    stored = metric_sum(scrape(telemetry), name) - before
    return {"values_per_s": stored / elapsed, "values_stored": stored, "seconds": elapsed, "drain_s": drain,
            "meter_values_per_s": run["results"] / run["seconds"], "errors": run["errors"]}


async def stop(pinned: Pinned) -> None:
    """Stop a process off the event loop: its last spans go to the sink this loop serves."""
    await asyncio.to_thread(pinned.stop)


async def with_gateway(platform: BenchPlatform, tracing: Mapping[str, str], stations: int, generators: int,
                       body: Callable[[Pinned, Fleet], Awaitable[dict[str, Any]]],
                       python: str | None = None) -> dict[str, Any]:
    gateway = platform.start_gateway(tracing, python)
    try:
        fleet = await Fleet.start(gateway.ws_url, PREFIX, 1, stations, generators)
        try:
            await fleet.connect()
            return await body(gateway, fleet)
        finally:
            await fleet.quit()
    finally:
        await stop(gateway)


async def memory_and_storm(platform: BenchPlatform, tracing: Mapping[str, str], config: BenchConfig,
                           fd_limit: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """RSS growth per idle booted station at each point; then the gateway restarts and
    `storm_stations` stations reconnect and boot at once."""
    gateway = platform.start_gateway(tracing)
    fleets: list[Fleet] = []
    points: list[dict[str, Any]] = []
    try:
        await asyncio.sleep(config.settle_s)
        baseline = rss_bytes(gateway.pid)
        held = 0
        for wanted in config.memory_points:
            target = min(wanted, fd_limit - FD_HEADROOM)
            if target <= held:
                points.append({"stations": wanted, "measured": None, "reason": f"open-file limit {fd_limit}"})
                continue
            fleet = await Fleet.start(gateway.ws_url, PREFIX, held + 1, target - held, 1)
            fleets.append(fleet)
            connected = await fleet.connect(300)
            held += connected["connected"]
            await asyncio.sleep(config.settle_s)
            rss = rss_bytes(gateway.pid)
            points.append({"stations": wanted, "measured": held, "rss_mb": rss / 2**20,
                           "kb_per_station": (rss - baseline) / held / 1024, "connect_s": connected["seconds"],
                           "reason": None if held == wanted else f"open-file limit {fd_limit}"})
        storm_fleet = await Fleet.start(gateway.ws_url, PREFIX, 1, config.storm_stations, 2)
        await stop(gateway)  # SIGTERM: every station is disconnected, as by a rollout
        for fleet in fleets:
            await fleet.quit()
        fleets = [storm_fleet]
        gateway = platform.start_gateway(tracing)
        conn = await asyncpg.connect(platform.database_url)
        try:
            since = await conn.fetchval("SELECT now()")
            result = await storm_fleet.connect(120)
            stored = await conn.fetchval(
                "SELECT count(*) FROM connectors WHERE station_id LIKE $1 AND status = 'Available' AND status_at >= $2"
                " AND updated_at >= $2", f"{PREFIX}%", since)
        finally:
            await conn.close()
        storm = {"stations": config.storm_stations, "accepted": result["connected"], "failed": result["failed"],
                 "seconds": result["seconds"], "statuses_stored": stored}
        return points, storm
    finally:
        for fleet in fleets:
            await fleet.quit()
        await stop(gateway)


def profile(pid: int, seconds: float, svg: Path) -> Path | None:
    """A py-spy flame graph of the gateway under load (skipped without py-spy)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        return None
    subprocess.run([py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200",
                    "--format", "flamegraph", "--output", str(svg), "--nonblocking"],
                   check=True, capture_output=True)
    return svg


async def run_benchmark(config: BenchConfig, platform: BenchPlatform, flame_graph: Path | None,
                        log: Callable[[str], None]) -> dict[str, Any]:
    fd_limit = raise_fd_limit()
    os.sched_setaffinity(0, {HARNESS_CORE})
    log(f"open-file limit raised to {fd_limit} (the hard limit) for the gateway and load generators")
    max_stations = max(config.stations, config.storm_stations, *config.memory_points)
    platform.register_stations(PREFIX, min(max_stations, fd_limit - FD_HEADROOM))
    results: dict[str, Any] = {"fd_limit": fd_limit, "config": config.__dict__}
    async with otlp_sink() as sink:
        sampled = tracing_env(sink, 0.1)
        for kind in ("echo", "peer"):
            log(f"{kind}: {config.stations} stations, closed loop, then the offered-load sweep")
            reference = platform.start_reference(kind)
            try:
                results[kind] = await measure_server(platform, reference, config)
            finally:
                await stop(reference)

        log("gateway: closed loop, sweep, commit latencies at half load, telemetry ingest")

        async def gateway_phases(gateway: Pinned, fleet: Fleet) -> dict[str, Any]:
            await fleet.run(config.warmup_s)
            best = await closed_loop(gateway, fleet, config.measure_s)
            # each phase starts with the downstream work of the one before done
            best["drain_after_closed_loop_s"] = await wait_drained(platform, DRAIN_WAIT_S)
            best["half_load"] = await commit_latencies(platform, fleet, best["throughput"] / 2, config.half_load_s,
                                                       config.settle_s)
            best["sweep"] = await sweep(fleet, config.sweep, best["throughput"], config.sweep_s)
            await wait_drained(platform, DRAIN_WAIT_S)
            best["telemetry"] = await telemetry_ingest(platform, fleet, config.telemetry_s)
            return best

        results["gateway"] = await with_gateway(platform, sampled, config.stations, config.load_generators,
                                                gateway_phases)
        results["tracing"] = {}
        equal_rate = results["gateway"]["half_load"]["offered"]
        for label, tracing in (("off", TRACING_OFF), ("10%", sampled), ("100%", tracing_env(sink, 1.0))):
            log(f"gateway, tracing {label}: closed loop, then CPU per message at {equal_rate:,.0f}/s")

            async def traced(gateway: Pinned, fleet: Fleet) -> dict[str, Any]:
                warmup = await fleet.run(config.warmup_s)
                measured = await closed_loop(gateway, fleet, config.measure_s)
                await wait_drained(platform, 60)
                measured["equal_load"] = await equal_load(gateway, fleet, equal_rate, config.half_load_s)
                await wait_drained(platform, 60)
                # each station's BootNotification and StatusNotification, then every loop's CALLs
                measured["calls_answered"] = (2 * config.stations + warmup["results"] + measured["answered"]
                                              + measured["equal_load"]["answered"])
                return measured

            spans_before = sink.spans
            traced_run = await with_gateway(platform, tracing, config.stations, config.load_generators, traced)
            # counted once the gateway has stopped and flushed: spans exported, not those its queue dropped
            traced_run["spans_per_call"] = (sink.spans - spans_before) / max(traced_run["calls_answered"], 1)
            results["tracing"][label] = traced_run
        log(f"gateway: memory at {', '.join(map(str, config.memory_points))} idle stations, then a reconnect storm "
            f"of {config.storm_stations}")
        results["memory"], results["storm"] = await memory_and_storm(platform, sampled, config, fd_limit)
        if flame_graph is not None and config.profile_s > 0:
            log(f"gateway: {config.profile_s:.0f} s closed loop under py-spy for the flame graph")

            async def profiled(gateway: Pinned, fleet: Fleet) -> dict[str, Any]:
                await fleet.run(config.warmup_s)
                task = asyncio.create_task(fleet.run(config.profile_s + 2))
                await asyncio.to_thread(profile, gateway.pid, config.profile_s, flame_graph)
                await task
                return {"flame_graph": str(flame_graph)}

            results["profile"] = await with_gateway(platform, sampled, config.stations, config.load_generators,
                                                    profiled)
    return results
