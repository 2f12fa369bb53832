"""Nothing lost, nothing counted twice: emulated stations charge through seeded faults (killed
services, a crashed PostgreSQL, a Redis restarted empty, a misbehaving network between the
services), then their ledgers are held against the database (`support.invariants`)."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from chargeplane.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from chargeplane.emulator.ledger import read_ledger
from chargeplane.supervisor import SERVICES, python_module
from support.chaos_report import ChaosReport
from support.faults import FaultInjector, plan_faults
from support.invariants import check_invariants, station_truth
from support.platform import RunningPlatform, running_platform
from support.tcp_proxy import proxy_network

pytestmark = pytest.mark.chaos

PREFIX = "CHAOS-"
# proxied link -> (the setting that points the caller at the proxy, the service behind it)
LINKS = {
    "ocpp->sessions": ("OCPP__SESSIONS_URL", "sessions"),
    "ocpp->telemetry": ("OCPP__TELEMETRY_URL", "telemetry"),
    "ocpp->auth": ("OCPP__AUTH_URL", "auth"),
    "sessions->billing": ("SESSIONS__BILLING_URL", "billing"),
    "billing->telemetry": ("BILLING__TELEMETRY_URL", "telemetry"),
}
# Prices so steep that one Wh or one second more or less changes the amount: a bill priced
# from the wrong energy, duration or meter series cannot pass for right.
SENSITIVE_TARIFF = {
    "currency": "EUR", "tax_rate": "0.19", "elements": [{"price_components": [
        {"type": "ENERGY", "price": "30.00"}, {"type": "TIME", "price": "360.00"},
        {"type": "PARKING_TIME", "price": "180.00"}, {"type": "FLAT", "price": "0.50"},
    ]}],
}
BOOT_WITHIN_S = 90.0
FLEET_EXIT_WITHIN_S = 90.0
DRAIN_WITHIN_S = 120.0
SETTLE_S = 3.0


@contextmanager
def crashable_servers(keep: Path | None) -> Iterator[tuple[EmbeddedPostgres, EmbeddedRedis]]:
    """PostgreSQL (durable: a crash must lose no commit) and Redis, owned by the suite; their
    data is left in `keep`, if given."""
    data_dir = keep or Path(tempfile.mkdtemp(prefix="chargeplane-chaos-"))
    postgres = EmbeddedPostgres(data_dir / "postgres", free_port())
    redis = EmbeddedRedis(data_dir / "redis", free_port())
    try:
        postgres.start()
        redis.start()
        yield postgres, redis
    finally:
        redis.stop()
        postgres.stop()
        if keep is None:
            shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def chaos_platform(log_path: Path, keep: Path | None) -> Iterator[tuple[RunningPlatform, FaultInjector]]:
    with crashable_servers(keep) as (postgres, redis), proxy_network(list(LINKS)) as network:
        env = {"DATABASE_URL": postgres.url, "REDIS_URL": redis.url,
               **{setting: network.proxies[link].url for link, (setting, _) in LINKS.items()}}
        with running_platform(log_path, env) as platform:
            for link, (_, service) in LINKS.items():
                network.set_target(link, _port(platform.env[f"{service.upper()}_URL"]))
            urls = {name: platform.env["OCPP_HTTP_URL" if name == "ocpp" else f"{name.upper()}_URL"]
                    for name in SERVICES}
            yield platform, FaultInjector(platform.data_dir / "pids", urls, postgres, redis, network)


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None, url
    return port


def _put_json(url: str, body: object) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="PUT",
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def _start_fleet(platform: RunningPlatform, stations: int, seed: int, work_dir: Path) -> subprocess.Popen[bytes]:
    """Short sessions with fast meter values, until SIGTERM (then open sessions are stopped)."""
    with open(work_dir / "emulator.log", "wb") as log:
        return subprocess.Popen(python_module(
            "chargeplane.emulator", "--url", platform.env["OCPP_URL"], "--stations", str(stations),
            "--prefix", PREFIX, "--sessions", "100000", "--session-seconds", "3", "--max-pause", "2",
            "--meter-interval", "1", "--power-kw", "22", "--ramp", "100", "--seed", str(seed),
            "--ledger", str(work_dir / "ledger.jsonl"), "--summary-json", str(work_dir / "fleet.json"), "--quiet",
        ), stdout=log, stderr=subprocess.STDOUT)


async def _poll(database_url: str, query: str, done: object, within_s: float, what: str) -> float:
    """Seconds until `query` returns `done`."""
    started = time.monotonic()
    conn = await asyncpg.connect(database_url)
    try:
        while (value := await conn.fetchval(query)) != done:
            if time.monotonic() - started > within_s:
                raise AssertionError(f"{what}: still {value} after {within_s:.0f} s")
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    return time.monotonic() - started


async def _drain(database_url: str) -> float:
    """Seconds until every outbox has delivered everything; what is stuck where, if not."""
    try:
        return await _poll(database_url, "SELECT count(*) FROM outbox WHERE dead_at IS NULL", 0, DRAIN_WITHIN_S,
                           "outbox events pending")
    except AssertionError as stuck:
        conn = await asyncpg.connect(database_url)
        try:
            rows = await conn.fetch(
                "SELECT source, destination, count(*), min(id), max(attempts), max(last_error) FROM outbox"
                " WHERE dead_at IS NULL GROUP BY source, destination")
        finally:
            await conn.close()
        raise AssertionError(f"{stuck}: {[tuple(row) for row in rows]}") from None


def test_nothing_acknowledged_is_lost_or_counted_twice(
    pytestconfig: pytest.Config, tmp_path: Path, report_table: list[str]
) -> None:
    seed = pytestconfig.getoption("chaos_seed") or random.SystemRandom().randrange(2**31)
    stations = pytestconfig.getoption("chaos_stations")
    plan = plan_faults(seed, pytestconfig.getoption("chaos_faults"), list(SERVICES), list(LINKS))
    keep: Path | None = pytestconfig.getoption("chaos_keep")
    assert keep is None or not keep.exists() or not any(keep.iterdir()), "--chaos-keep: a new or empty folder"
    work_dir = keep or tmp_path  # up.log, the services' logs, the stations' log and ledger
    work_dir.mkdir(parents=True, exist_ok=True)
    with chaos_platform(work_dir / "up.log", keep and keep / "servers") as (platform, injector):
        _put_json(f"{platform.env['BILLING_URL']}/internal/tariffs/chaos", SENSITIVE_TARIFF)
        platform.cli("station", "add", "--count", str(stations), "--prefix", PREFIX, "--tariff", "chaos")
        database_url = platform.env["DATABASE_URL"]
        fleet = _start_fleet(platform, stations, seed, work_dir)
        try:
            asyncio.run(_poll(database_url, f"SELECT count(*) FROM charging_stations WHERE id LIKE '{PREFIX}%'"
                              " AND last_boot_at IS NOT NULL", stations, BOOT_WITHIN_S, "stations booted"))
            recoveries = []
            faults_began = time.monotonic()
            for fault in plan:
                injector.inject(fault)
                recoveries.append(injector.wait_recovered())
                time.sleep(random.Random(f"{seed}:{fault}").uniform(0.2, 1.5))
            under_faults_s = time.monotonic() - faults_began
            time.sleep(SETTLE_S)
        finally:
            fleet.send_signal(signal.SIGTERM)
            try:
                fleet.wait(FLEET_EXIT_WITHIN_S)
            except subprocess.TimeoutExpired:
                fleet.kill()
                raise AssertionError(f"the emulated stations did not stop within {FLEET_EXIT_WITHIN_S:.0f} s"
                                     f" of SIGTERM (seed {seed}); their ledger: {work_dir / 'ledger.jsonl'}") from None
        drain_s = asyncio.run(_drain(database_url))
        truth = station_truth(read_ledger(work_dir / "ledger.jsonl"))
        findings = asyncio.run(check_invariants(database_url, platform.env["REDIS_URL"], PREFIX, truth))
    report = ChaosReport(seed, stations, plan, under_faults_s, findings, max(recoveries, default=0.0), drain_s)
    report_table.append(report.table())
    assert findings.sessions > stations, "the stations hardly charged: the run proves nothing"
    if findings.violations:
        pytest.fail(f"rerun with --chaos-seed {seed}\n{report.table()}", pytrace=False)
